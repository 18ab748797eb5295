// Exits that end the guest CPU: triple fault, EPT violation, EPT misconfiguration. The stop
// reason must say what happened (SDM Vol 3C 28.2.1 Table 28-7 for the EPT qualification).
#include <string>

#include "handler_fixture.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("triple fault stops the guest CPU") {
  HandlerFixture f;
  const vmm::ExitAction a = f.exit(ExitReason::triple_fault);
  CHECK(outcome_of(a) == Outcome::stop);
  REQUIRE(a.reason != nullptr);
  CHECK(std::string(a.reason).find("triple fault") != std::string::npos);
  CHECK_FALSE(f.applied);
  CHECK(f.vcpu.state == vmm::VcpuState::stopped);
}

TEST_CASE("EPT violation: stop reason has the GPA, the linear address and the access") {
  // Table 28-7: access 0 read / 1 write / 2 fetch; allowed 3 R / 4 W / 5 X; 7 linear address
  // valid; 8 access to the translation (not a paging-structure entry).
  constexpr uint64_t R = 1u << 0, W = 1u << 1, X = 1u << 2, CanR = 1u << 3, CanW = 1u << 4, CanX = 1u << 5;
  constexpr uint64_t Gla = 1u << 7, Translated = 1u << 8;
  struct Row {
    const char* what;
    uint64_t qualification;
    uint64_t gpa, gla;
    const char* reason;
  };
  const Row rows[] = {
      {"write to a read/execute page, linear address valid", W | CanR | CanX | Gla | Translated,
       0xfee00000, 0x7fff1000, "EPT violation: gpa 0xfee00000 access -w- allowed r-x linear 0x7fff1000"},
      {"fetch from an unmapped page, no linear address", X, 0x7f000000, 0,
       "EPT violation: gpa 0x7f000000 access --x allowed --- linear n/a"},
      {"read by the guest's page walk", R | Gla, 0x1234000, 0xffff800000001000,
       "EPT violation: gpa 0x1234000 access r-- allowed --- linear 0xffff800000001000 (paging-structure walk)"},
      {"read of hidden hypervisor memory, all bits of the address", R | CanW | Gla | Translated,
       0xfffffffff000, 0x2000, "EPT violation: gpa 0xfffffffff000 access r-- allowed -w- linear 0x2000"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    f.vmcs.set(VmcsField::guest_physical_address, r.gpa);
    f.vmcs.set(VmcsField::guest_linear_address, r.gla);
    const vmm::ExitAction a = f.exit(ExitReason::ept_violation);
    CHECK(outcome_of(a) == Outcome::stop);
    REQUIRE(a.reason != nullptr);
    CHECK(std::string(a.reason) == r.reason);
    CHECK(a.reason == f.vcpu.stop_detail);  // per-vCPU storage, not a shared buffer
  }
}

TEST_CASE("EPT misconfiguration: stop reason has the GPA (the qualification is undefined)") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::exit_qualification, 0xffffffff);  // undefined: must not be printed as access bits
  f.vmcs.set(VmcsField::guest_physical_address, 0xfed40000);
  const vmm::ExitAction a = f.exit(ExitReason::ept_misconfiguration);
  CHECK(outcome_of(a) == Outcome::stop);
  REQUIRE(a.reason != nullptr);
  CHECK(std::string(a.reason) == "EPT misconfiguration: gpa 0xfed40000 (a reserved or invalid EPT entry maps it)");
}
