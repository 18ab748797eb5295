// A triple fault (the shutdown state), and exits that end the guest CPU: EPT violation, EPT
// misconfiguration. The stop
// reason must say what happened (SDM Vol 3C 28.2.1 Table 28-7 for the EPT qualification).
#include <string>

#include "handler_fixture.hpp"
#include "vmx/guest_non_register_state.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("triple fault: the vCPU enters the shutdown activity state, as hardware enters shutdown") {
  // SDM Vol 3A 6.15: the CPU waits for INIT or NMI; Vol 3C 27.3.1.5: no blocking by STI or MOV
  // SS into an inactive state, only an NMI may be injected there.
  namespace intr = vmx::interruptibility;
  struct Row {
    const char* what;
    uint64_t interruptibility, expected;
  };
  const Row rows[] = {
      {"nothing blocked", 0, 0},
      {"blocking by STI and MOV SS end", intr::blocking_by_sti | intr::blocking_by_mov_ss, 0},
      {"blocking by NMI stays (shut down in the NMI handler)", intr::blocking_by_nmi | intr::blocking_by_sti,
       intr::blocking_by_nmi},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.policy.activity_shutdown = true;
    f.vmcs.set(VmcsField::guest_interruptibility_state, r.interruptibility);
    f.vmcs.set(VmcsField::vm_entry_interruption_info, (1u << 31) | (3u << 8) | 8);  // a #DF left planned
    const uint64_t rip = f.vmcs.get(VmcsField::guest_rip);
    const vmm::ExitAction a = f.exit(ExitReason::triple_fault);
    CHECK(outcome_of(a) == Outcome::resume);
    CHECK(f.vmcs.get(VmcsField::guest_activity_state) == 2);
    CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) == r.expected);
    CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == 0);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == rip);
    CHECK(f.vcpu.state == vmm::VcpuState::active);
  }
}

TEST_CASE("triple fault: INIT restarts an AP that shut down (it waits for a SIPI)") {
  HandlerFixture f;
  f.policy.activity_shutdown = true;
  CHECK(outcome_of(f.exit(ExitReason::triple_fault)) == Outcome::resume);
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == 3);
}

TEST_CASE("triple fault without the shutdown activity state stops the guest CPU") {
  HandlerFixture f;
  f.policy.activity_shutdown = false;
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
