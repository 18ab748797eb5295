// The C++ side of a VM exit (called from vmx/entry/vm_entry_exit.S with the guest's GPRs
// saved in the vCPU): dispatch, apply, deliver pending NMIs, and return to VMRESUME.
#include <new>  // placement new: prepare_exit_context

#include "arch/cpu.hpp"
#include "vmm/apic/ap_runtime.hpp"
#include "vmm/exit_audit.hpp"  // its static_asserts: every exit a guest can cause has a handler
#include "vmm/exit_dispatch.hpp"
#include "vmm/handlers/cpuid_exit.hpp"
#include "vmm/handlers/rdmsr_exit.hpp"
#include "vmm/host/root_state.hpp"
#include "vmm/host/host_safe_ops.hpp"
#include "vmm/launch/launch.hpp"
#include "vmm/launch/vmcs_report.hpp"
#include "vmm/log/log.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmm/nmi_delivery.hpp"
#include "vmx/controls.hpp"
#include "vmx/guest_non_register_state.hpp"
#include "vmx/vmcs_hardware.hpp"
#include "vmx/vmx_insn.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

class HardwareHostOps final : public HostOps {
 public:
  bool rdmsr_safe(uint32_t msr, uint64_t* value) override { return apex_rdmsr_safe(msr, value); }
  bool wrmsr_safe(uint32_t msr, uint64_t value) override { return apex_wrmsr_safe(msr, value); }
  arch::CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) override { return arch::cpuid(leaf, subleaf); }
  // CPUID itself clears bits 63:32 of the four registers, so they go to the register file
  // as the instruction leaves them.
  void cpuid_into(vmx::GprFile& regs) override {
    uint64_t a = regs.gpr[0], b, c = regs.gpr[1], d;
    asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    regs.gpr[0] = a;
    regs.gpr[3] = b;
    regs.gpr[1] = c;
    regs.gpr[2] = d;
  }
  uint64_t feature_control() override { return arch::rdmsr(arch::Msr::IA32_FEATURE_CONTROL); }
  bool xsetbv_safe(uint32_t index, uint64_t value) override { return apex_xsetbv_safe(index, value); }
  void invd_as_wbinvd() override { arch::wbinvd(); }
  // IRET to the next instruction on the same stack, with the current flags (IF stays 0).
  void unblock_nmis() override {
    asm volatile(
        "mov %%rsp, %%rax\n\t"
        "pushq %[ss]\n\t"
        "pushq %%rax\n\t"
        "pushfq\n\t"
        "pushq %[cs]\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "iretq\n\t"
        "1:"
        :
        : [ss] "i"(host_sel::data), [cs] "i"(host_sel::code)
        : "rax", "memory", "cc");
  }
  uint64_t host_supported_xcr0() override {
    auto r = arch::cpuid(0xd, 0);
    return (static_cast<uint64_t>(r.edx) << 32) | r.eax;
  }
  // Single-context where the CPU offers it (IA32_VMX_EPT_VPID_CAP[41]); otherwise INVVPID
  // fails without a fault (VMfailValid) and all-context (bit 42) does it.
  void flush_guest_tlb(uint16_t vpid) override {
    if (vmx::invvpid(vmx::InvvpidType::single_context, vpid) != vmx::VmxStatus::ok)
      (void)vmx::invvpid(vmx::InvvpidType::all_context, vpid);
  }
};
// Stateless: one of each for every CPU.
HardwareHostOps g_host_ops;
vmx::HardwareVmcs g_vmcs;

[[noreturn, gnu::cold, gnu::noinline]] void stop_this_cpu(Vcpu& vcpu, const char* why, uint16_t reason) {
  APEX_LOG(fatal, "cpu%u: guest stopped: %s (exit reason %u %s, %llu exits so far)", vcpu.index, why, reason,
           vmx::exit_reason_name(reason), static_cast<unsigned long long>(exits_total(vcpu)));
  dump_current_vmcs(vcpu.index, "guest stopped");
  dump_guest_gprs(vcpu.regs, vcpu.xstate.xcr0 & policy::xcr0::APX);
  for (;;) {
    arch::cli();
    arch::cpu_halt();
  }
}

// Why apply_exit_action() failed: the handler's stop, or a VMWRITE of its action.
const char* stop_reason(const ExitAction& a) {
  if (a.kind != ExitAction::Kind::stop) return "VMWRITE failed while applying the handler's action";
  return a.reason ? a.reason : "stopped by handler";
}

// The basic reason of the exit being handled, read again where it is only needed for a log
// line (the hot path keeps no register for it).
uint16_t current_basic_reason(vmx::HardwareVmcs& vmcs) {
  return vmx::ExitReasonField{static_cast<uint32_t>(vmcs.read(VmcsField::exit_reason))}.basic();
}

// Whether the guest may be entered: the mailbox is empty and the vCPU runs (what
// apic::drain_ap_mailbox() would answer for an empty mailbox).
bool may_enter_directly(const Vcpu& vcpu) {
  return vcpu.mailbox.empty() && vcpu.ap.state == apic::ApState::running && vcpu.state != VcpuState::stopped;
}

// Intercepted INIT parks this CPU here, in VMX root, until a STARTUP arrives.
[[gnu::noinline]] void wait_in_mailbox(ExitContext& ctx, uint16_t reason) {
  while (!apic::drain_ap_mailbox(ctx)) {
    if (ctx.vcpu.state == VcpuState::stopped) stop_this_cpu(ctx.vcpu, "could not start after STARTUP", reason);
    arch::cpu_pause();
  }
}

// The work Vcpu::pending names (vmm/pending_work.hpp), in the order the exit path always did
// it: the mailbox (which may park this CPU, and an INIT there discards a pending NMI), the
// NMI, CR2, the write monitor's INVEPT. Each bit is cleared before its work is looked at, so
// that a setter racing with it leaves the bit set for the next exit rather than lost.
[[gnu::noinline]] void do_pending_work(vmx::HardwareVmcs& vmcs, ExitContext& ctx, Vcpu& vcpu) {
  if (vcpu.pending.has(pending::mailbox)) {
    vcpu.pending.clear(pending::mailbox);
    if (!may_enter_directly(vcpu)) wait_in_mailbox(ctx, current_basic_reason(vmcs));
  }
  if (vcpu.pending.has(pending::nmi)) place_pending_nmi(vmcs, vcpu);  // vmm/nmi_delivery.hpp
  if (vcpu.pending.has(pending::cr2)) {
    asm volatile("mov %0, %%cr2" ::"r"(vcpu.cr2));
    vcpu.pending.clear(pending::cr2);
  }
  if (vcpu.pending.has(pending::monitor_flush)) {
    vcpu.pending.clear(pending::monitor_flush);
    monitor::before_vm_entry(vcpu);
  }
}

// apply_exit_action() failed: the handler's stop, or a VMWRITE of its action.
[[noreturn, gnu::cold, gnu::noinline]] void stop_after_action(Vcpu& vcpu, ExitAction action) {
  stop_this_cpu(vcpu, stop_reason(action), current_basic_reason(g_vmcs));
}

// An exit whose reason is out of the ordinary: VM entry failed (bit 31, SDM Vol 3C 28.2.1),
// or a basic reason past the handler table. Other bits of the field (enclave mode, pending
// MTF, ...) are set on ordinary exits too: their basic reason is dispatched as usual.
[[gnu::noinline, gnu::cold]] uint16_t unusual_reason(Vcpu& vcpu, vmx::ExitReasonField reason) {
  if (reason.entry_failure()) stop_this_cpu(vcpu, "VM entry failed (invalid guest state or MSR loading)", reason.basic());
  if (reason.basic() >= vmx::kExitReasonLimit) {
    vcpu.state = VcpuState::stopped;
    stop_this_cpu(vcpu, "no handler for this exit reason", reason.basic());
  }
  return reason.basic();
}

}  // namespace
}  // namespace vmm

void vmm::prepare_exit_context(CpuVm& cpu) {
  Vcpu& vcpu = *cpu.vcpu;
  vcpu.exit_context = new (cpu.host->exit_context) ExitContext{vcpu, g_vmcs, g_host_ops, machine_vm()->policy};
  // Before the first VM entry and before other CPUs see this one virtualized (the launch sets
  // Vcpu::virtualized later): their INIT/STARTUP posts then always reach the pending word.
  vcpu.mailbox.attach(&vcpu.pending);
  // The first exit compares the write monitor's EPT generation once, whatever it became
  // before this CPU's vCPU was registered.
  vcpu.pending.set(pending::monitor_flush);
}

// The hot path: every VM exit runs it. The common case (a handler that advances RIP, no
// pending work) is the handler plus six inline VMREAD/VMWRITEs (exit reason; RIP, length,
// RIP; RFLAGS; interruptibility), one compare of the reason with the table's size, the
// counter and one indirect call; the stub then tests Vcpu::pending once. GUEST_RSP is not read here:
// handlers that take RSP as an operand read it from the VMCS themselves
// (handlers/guest_view.hpp read_gpr/write_gpr; the emulator in guest_memory/emu_state.hpp),
// so gpr[4] is only their mirror.
extern "C" void apex_handle_exit(vmm::Vcpu* vcpu) {
  using namespace vmm;
  enter_root(*vcpu);
  vmx::HardwareVmcs& vmcs = g_vmcs;
  ExitContext& ctx = *vcpu->exit_context;  // built at launch (prepare_exit_context)
  const vmx::ExitReasonField reason{static_cast<uint32_t>(vmcs.read_unchecked(VmcsField::exit_reason))};
  // One compare for both: bit 31 (entry failure) and a reason past the table. Below the
  // table's size the field is the basic reason itself.
  uint32_t basic = reason.raw;
  if (__builtin_expect(basic >= vmx::kExitReasonLimit, 0)) basic = unusual_reason(*vcpu, reason);
  count_exit_unchecked(*vcpu, static_cast<uint16_t>(basic));
  // NMI exits need no test here: their handler unblocks NMIs and tells a wake-up NMI from
  // the guest's (vmm/handlers/exception_or_nmi.cpp).
  ExitAction action;
  if (basic == static_cast<uint32_t>(vmx::ExitReason::cpuid))
    action = cpuid_exit(ctx, *vcpu, g_host_ops);  // inline, CPUID itself included (cpuid_exit.hpp)
  else if (basic == static_cast<uint32_t>(vmx::ExitReason::rdmsr))
    action = rdmsr_exit(ctx, *vcpu, g_host_ops);  // inline: one table load, RDMSR itself (rdmsr_exit.hpp)
  else
    action = run_exit_handler_unchecked(ctx, static_cast<uint16_t>(basic));
  if (!apply_exit_action(vmcs, *vcpu, action)) stop_after_action(*vcpu, action);
  leave_root(*vcpu);
  // Vcpu::pending is tested by the stub, inside its re-entry window: apex_do_pending_work.
}

// Called by the exit stub when Vcpu::pending is non-zero at its last look before VMRESUME
// (vmm/host/reentry_window.hpp); the stub looks again afterwards.
extern "C" void apex_do_pending_work(vmm::Vcpu* vcpu) {
  using namespace vmm;
  enter_root(*vcpu);
  do_pending_work(g_vmcs, *vcpu->exit_context, *vcpu);
  leave_root(*vcpu);
}

extern "C" [[noreturn]] void apex_vmresume_failed(vmm::Vcpu* vcpu) {
  APEX_LOG(fatal, "cpu%u: VMRESUME failed: VM-instruction error %llu", vcpu->index,
           static_cast<unsigned long long>(vmm::g_vmcs.read(vmx::VmcsField::vm_instruction_error)));
  vmm::dump_current_vmcs(vcpu->index, "VMRESUME failed");
  for (;;) {
    arch::cli();
    arch::cpu_halt();
  }
}
