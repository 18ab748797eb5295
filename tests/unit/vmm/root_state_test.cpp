// Whether a CPU is in VMX root (vmm/host/root_state.hpp): the exit path marks its vCPU, the
// log sinks ask by CPU number through the vCPU registry.
#include <catch.hpp>

#include "vmm/host/root_state.hpp"
#include "vmm/vcpu_registry.hpp"

TEST_CASE("in_root follows enter_root/leave_root of the CPU's registered vCPU") {
  vmm::reset_vcpu_registry();
  static vmm::Vcpu a{}, b{};
  a.index = 3;
  b.index = 7;
  REQUIRE(vmm::register_vcpu(&a));
  REQUIRE(vmm::register_vcpu(&b));
  CHECK_FALSE(vmm::in_root(3));
  vmm::enter_root(a);
  CHECK(vmm::in_root(3));
  CHECK_FALSE(vmm::in_root(7));  // per CPU
  vmm::enter_root(b);
  vmm::leave_root(a);
  CHECK_FALSE(vmm::in_root(3));
  CHECK(vmm::in_root(7));
  vmm::leave_root(b);
  CHECK_FALSE(vmm::in_root(7));
  CHECK_FALSE(vmm::in_root(4));     // no vCPU registered: never virtualized, never in root
  CHECK_FALSE(vmm::in_root(1000));  // beyond the registry
  vmm::reset_vcpu_registry();
}
