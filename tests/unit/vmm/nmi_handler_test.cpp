// Exit reasons 0 (exception or NMI) and 8 (NMI window): NMIs are the guest's and come back
// to it; any exception exit is unexpected (none is intercepted) and stops the guest.
#include <string>

#include "handler_fixture.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("exception-or-NMI exit: NMIs are kept for the guest, exceptions stop it") {
  using S = vmm::VcpuState;
  struct Row {
    const char* what;
    uint64_t info;      // VM-exit interruption information
    uint64_t idt_info;  // IDT-vectoring information
    uint32_t idt_error;
    S state;
    Outcome outcome;
    bool nmi_pending;        // after the exit
    uint64_t injected;       // VM-entry interruption information after apply
    const char* detail_has;  // for stops: text the reason must contain
  };
  const Row rows[] = {
      {"NMI", 0x80000202, 0, 0, S::active, Outcome::resume, true, 0, nullptr},
      {"NMI with the NMI-unblocking-by-IRET bit", 0x80001202, 0, 0, S::active, Outcome::resume, true, 0, nullptr},
      {"NMI while waiting for SIPI: held for the SIPI (nmi_delivery.hpp)", 0x80000202, 0, 0, S::wait_for_sipi,
       Outcome::resume, true, 0, nullptr},
      {"NMI during delivery of a #PF: the #PF is delivered again", 0x80000202, 0x80000b0e, 0x2, S::active,
       Outcome::resume, true, 0x80000b0e, nullptr},
      {"NMI during delivery of an external interrupt", 0x80000202, 0x80000030, 0, S::active,
       Outcome::resume, true, 0x80000030, nullptr},
      {"#PF exit", 0x80000b0e, 0, 0, S::active, Outcome::stop, false, 0, "vector 14 type 3"},
      {"#UD exit", 0x80000306, 0, 0, S::active, Outcome::stop, false, 0, "vector 6 type 3"},
      {"INT3 exit", 0x80000603, 0, 0, S::active, Outcome::stop, false, 0, "vector 3 type 6"},
      {"NMI type without the valid bit", 0x00000202, 0, 0, S::active, Outcome::stop, false, 0, "info 0x202"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.vcpu.state = r.state;
    f.vmcs.set(VmcsField::vm_exit_interruption_info, r.info);
    f.vmcs.set(VmcsField::idt_vectoring_info, r.idt_info);
    f.vmcs.set(VmcsField::idt_vectoring_error_code, r.idt_error);
    f.vmcs.set(VmcsField::vm_exit_interruption_error_code, 0x2);
    const vmm::ExitAction a = f.exit(ExitReason::exception_or_nmi);
    CHECK(outcome_of(a) == r.outcome);
    CHECK(f.vcpu.pending.has(vmm::pending::nmi) == r.nmi_pending);
    CHECK(f.injected() == r.injected);
    if (r.injected & (1u << 11)) CHECK(f.vmcs.get(VmcsField::vm_entry_exception_error_code) == r.idt_error);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
    if (r.detail_has) {
      REQUIRE(a.reason != nullptr);
      CHECK(std::string(a.reason).find(r.detail_has) != std::string::npos);
      CHECK(f.vcpu.state == vmm::VcpuState::stopped);
    }
  }
}

TEST_CASE("NMI-window exit: the window closes, a pending NMI is injected") {
  constexpr uint64_t kOther = vmx::proc::use_msr_bitmaps | vmx::proc::activate_secondary_controls;
  struct Row {
    const char* what;
    bool pending;
    uint64_t proc_before;
    Outcome outcome;
    uint64_t injected;
  };
  const Row rows[] = {
      {"pending NMI", true, kOther | vmx::proc::nmi_window_exiting, Outcome::nmi, kInjectNmi},
      {"nothing pending (INIT dropped it)", false, kOther | vmx::proc::nmi_window_exiting, Outcome::resume, 0},
      {"window already closed", true, kOther, Outcome::nmi, kInjectNmi},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    if (r.pending) f.vcpu.pending.set(vmm::pending::nmi);
    f.vmcs.set(VmcsField::primary_processor_based_controls, r.proc_before);
    CHECK(outcome_of(f.exit(ExitReason::nmi_window)) == r.outcome);
    CHECK(f.vmcs.get(VmcsField::primary_processor_based_controls) == kOther);  // only the window bit goes
    CHECK_FALSE(f.vcpu.pending.has(vmm::pending::nmi));
    CHECK(f.injected() == r.injected);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
  }
}

TEST_CASE("NMI-window exit: a failed VMWRITE stops rather than exiting forever") {
  HandlerFixture f;
  f.vcpu.pending.set(vmm::pending::nmi);
  f.vmcs.mark_unsupported(VmcsField::primary_processor_based_controls);
  CHECK(outcome_of(f.exit(ExitReason::nmi_window)) == Outcome::stop);
}
