#include <catch.hpp>
#include <string>

#include "vmm/apic/apic_virtualization.hpp"
#include "vmx/controls.hpp"

using vmm::apic::describe_apic_virtualization;
using vmx::VmxCapabilities;

namespace {
// Control MSRs carry the allowed-1 settings in bits 63:32 (SDM Vol 3D A.3).
constexpr uint64_t allowed1(uint32_t bits) { return uint64_t{bits} << 32; }

std::string describe(const VmxCapabilities& caps, size_t size = 256) {
  std::string buf(size, '#');
  size_t n = describe_apic_virtualization(caps, buf.data(), size);
  REQUIRE(n < size);
  REQUIRE(buf[n] == '\0');
  return buf.substr(0, n);
}
}  // namespace

TEST_CASE("APIC virtualization offer: none without the controls") {
  VmxCapabilities caps;
  CHECK(describe(caps) == "none");
  // Secondary bits set but secondary controls not activatable: still none.
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses | vmx::proc2::apic_register_virtualization);
  CHECK(describe(caps) == "none");
}

TEST_CASE("APIC virtualization offer: every control named in the SDM's order") {
  VmxCapabilities caps;
  caps.procbased_ctls = allowed1(vmx::proc::activate_secondary_controls | vmx::proc::use_tpr_shadow);
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses | vmx::proc2::virtualize_x2apic_mode |
                                  vmx::proc2::apic_register_virtualization |
                                  vmx::proc2::virtual_interrupt_delivery | vmx::proc2::enable_ept);
  caps.pinbased_ctls = allowed1(vmx::pin::posted_interrupts);
  CHECK(describe(caps) ==
        "TPR shadow, virtualize-APIC-accesses, virtualize-x2APIC-mode, APIC-register virtualization, "
        "virtual-interrupt delivery, posted interrupts");
}

TEST_CASE("APIC virtualization offer: a subset, and a short buffer is cut, not overrun") {
  VmxCapabilities caps;
  caps.procbased_ctls = allowed1(vmx::proc::activate_secondary_controls);
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses);
  CHECK(describe(caps) == "virtualize-APIC-accesses");
  CHECK(describe(caps, 9) == "virtuali");
  char one[1] = {'x'};
  CHECK(describe_apic_virtualization(caps, one, 1) == 0);
  CHECK(one[0] == '\0');
  CHECK(describe_apic_virtualization(caps, one, 0) == 0);
}
