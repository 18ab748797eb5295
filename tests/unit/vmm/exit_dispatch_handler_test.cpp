// The dispatcher and its table (vmm/exit_handlers.def): which reasons have handlers, what
// happens to a reason without one, and the handlers that are one line of policy (the VMX
// instructions, GETSEC, INVD).
#include "handler_fixture.hpp"
#include "vmm/handlers/handlers.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("exit handler table: one row per reason the hypervisor handles") {
  struct Row {
    ExitReason reason;
    vmm::ExitHandler handler;
  };
  const Row rows[] = {
      {ExitReason::exception_or_nmi, vmm::handle_exception_or_nmi},
      {ExitReason::triple_fault, vmm::handle_triple_fault},
      {ExitReason::init_signal, vmm::handle_init_signal},
      {ExitReason::startup_ipi, vmm::handle_startup_ipi},
      {ExitReason::nmi_window, vmm::handle_nmi_window},
      {ExitReason::cpuid, vmm::handle_cpuid},
      {ExitReason::getsec, vmm::handle_getsec},
      {ExitReason::invd, vmm::handle_invd},
      {ExitReason::vmcall, vmm::handle_vmcall},
      {ExitReason::control_register_access, vmm::handle_control_register_access},
      {ExitReason::rdmsr, vmm::handle_rdmsr},
      {ExitReason::wrmsr, vmm::handle_wrmsr},
      {ExitReason::ept_violation, vmm::handle_ept_violation},
      {ExitReason::ept_misconfiguration, vmm::handle_ept_misconfiguration},
      {ExitReason::xsetbv, vmm::handle_xsetbv},
      {ExitReason::vmclear, vmm::handle_vmx_instruction},
      {ExitReason::vmlaunch, vmm::handle_vmx_instruction},
      {ExitReason::vmptrld, vmm::handle_vmx_instruction},
      {ExitReason::vmptrst, vmm::handle_vmx_instruction},
      {ExitReason::vmread, vmm::handle_vmx_instruction},
      {ExitReason::vmresume, vmm::handle_vmx_instruction},
      {ExitReason::vmwrite, vmm::handle_vmx_instruction},
      {ExitReason::vmxoff, vmm::handle_vmx_instruction},
      {ExitReason::vmxon, vmm::handle_vmx_instruction},
      {ExitReason::invept, vmm::handle_vmx_instruction},
      {ExitReason::invvpid, vmm::handle_vmx_instruction},
      {ExitReason::vmfunc, vmm::handle_vmx_instruction},
      {ExitReason::task_switch, vmm::handle_task_switch},
      {ExitReason::seamcall, vmm::handle_tdx_instruction},
      {ExitReason::tdcall, vmm::handle_tdx_instruction},
      {ExitReason::urdmsr, vmm::handle_urdmsr},
      {ExitReason::uwrmsr, vmm::handle_uwrmsr},
      {ExitReason::rdmsr_immediate, vmm::handle_rdmsr_immediate},
      {ExitReason::wrmsrns_immediate, vmm::handle_wrmsrns_immediate},
  };
  for (const Row& r : rows) {
    CAPTURE(vmx::exit_reason_name(r.reason));
    CHECK(vmm::exit_handler_for(static_cast<uint16_t>(r.reason)) == r.handler);
  }
}

TEST_CASE("a reason without a handler stops the guest CPU; it is never resumed") {
  struct Row {
    uint16_t reason;
    const char* what;
  };
  const Row rows[] = {
      {static_cast<uint16_t>(ExitReason::external_interrupt), "external interrupt (not enabled)"},
      {static_cast<uint16_t>(ExitReason::hlt), "HLT (not enabled)"},
      {static_cast<uint16_t>(ExitReason::io_instruction), "I/O (not enabled)"},
      {static_cast<uint16_t>(ExitReason::mov_dr), "MOV DR (not enabled)"},
      {static_cast<uint16_t>(ExitReason::entry_failure_invalid_guest_state), "entry failure"},
      {static_cast<uint16_t>(ExitReason::bus_lock), "bus lock (not enabled)"},
      {35, "a number the SDM does not use"},
      {static_cast<uint16_t>(vmx::kExitReasonLimit), "one past the table"},
      {0xffff, "garbage"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what, r.reason);
    HandlerFixture f;
    CHECK(vmm::exit_handler_for(r.reason) == nullptr);
    const vmm::ExitAction a = vmm::dispatch_exit(f.ctx, r.reason);
    CHECK(a.kind == vmm::ExitAction::Kind::stop);
    CHECK(a.reason != nullptr);
    CHECK_FALSE(vmm::apply_exit_action(f.ctx, a));
    CHECK(f.vcpu.state == vmm::VcpuState::stopped);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);  // nothing advanced
    if (r.reason < vmx::kExitReasonLimit) CHECK(f.vcpu.exit_counts[r.reason] == 1);  // still counted
    CHECK(vmm::exits_total(f.vcpu) == (r.reason < vmx::kExitReasonLimit ? 1u : 0u));
  }
}

TEST_CASE("every VMX instruction and GETSEC raise #UD: VMX and SMX are hidden") {
  const ExitReason rows[] = {
      ExitReason::getsec,  ExitReason::vmclear, ExitReason::vmlaunch, ExitReason::vmptrld,
      ExitReason::vmptrst, ExitReason::vmread,  ExitReason::vmresume, ExitReason::vmwrite,
      ExitReason::vmxoff,  ExitReason::vmxon,   ExitReason::invept,   ExitReason::invvpid,
      ExitReason::vmfunc,
  };
  for (ExitReason r : rows) {
    CAPTURE(vmx::exit_reason_name(r));
    HandlerFixture f;
    CHECK(outcome_of(f.exit(r)) == Outcome::ud);
    CHECK(f.applied);
    CHECK(f.injected() == kInjectUd);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);  // a fault: RIP stays on the instruction
  }
}

TEST_CASE("INVD is executed as WBINVD on the host and skipped") {
  HandlerFixture f;
  CHECK(outcome_of(f.exit(ExitReason::invd)) == Outcome::advance);
  CHECK(f.host.wbinvd_calls == 1);
  CHECK(f.advanced());
  CHECK(f.injected() == 0);
}
