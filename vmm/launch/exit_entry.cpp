// The C++ side of a VM exit (called from vmx/entry/vm_entry_exit.S with the guest's GPRs
// saved in the vCPU): dispatch, apply, deliver pending NMIs, and return to VMRESUME.
#include "arch/cpu.hpp"
#include "vmm/apic/ap_runtime.hpp"
#include "vmm/exit_dispatch.hpp"
#include "vmm/host/root_state.hpp"
#include "vmm/host/host_safe_ops.hpp"
#include "vmm/launch/launch.hpp"
#include "vmm/launch/vmcs_report.hpp"
#include "vmm/log/log.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmx/controls.hpp"
#include "vmx/vmcs_hardware.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

class HardwareHostOps final : public HostOps {
 public:
  bool rdmsr_safe(uint32_t msr, uint64_t* value) override { return apex_rdmsr_safe(msr, value); }
  bool wrmsr_safe(uint32_t msr, uint64_t value) override { return apex_wrmsr_safe(msr, value); }
  arch::CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) override { return arch::cpuid(leaf, subleaf); }
  bool xsetbv_safe(uint32_t index, uint64_t value) override { return apex_xsetbv_safe(index, value); }
  void invd_as_wbinvd() override { asm volatile("wbinvd" ::: "memory"); }
  uint64_t host_supported_xcr0() override {
    auto r = arch::cpuid(0xd, 0);
    return (static_cast<uint64_t>(r.edx) << 32) | r.eax;
  }
};

[[noreturn]] void stop_this_cpu(Vcpu& vcpu, const char* why, uint16_t reason) {
  APEX_LOG(fatal, "cpu%u: guest stopped: %s (exit reason %u %s, %llu exits so far)", vcpu.index, why, reason,
           vmx::exit_reason_name(reason), static_cast<unsigned long long>(vcpu.exits_total));
  dump_current_vmcs(vcpu.index, "guest stopped");
  for (;;) {
    arch::cli();
    arch::cpu_halt();
  }
}

// An NMI that hit VMX root belongs to the guest (vmm/host/host_exception.cpp). Inject it
// unless the guest blocks NMIs or another event is already being injected; then ask for
// an NMI-window exit instead (SDM Vol 3C 26.7.6 / 27.6.1).
void deliver_pending_nmi(vmx::VmcsAccess& vmcs, Vcpu& vcpu) {
  if (!vcpu.nmi_pending) return;
  if (apic::is_wakeup_nmi(vcpu)) {  // another CPU's wake-up for the mailbox, not the guest's
    vcpu.nmi_pending = false;
    return;
  }
  constexpr uint64_t kBlockingByNmi = 1u << 3, kBlockingBySti = 1u << 0, kBlockingByMovSs = 1u << 1;
  uint64_t intr = vmcs.read(VmcsField::guest_interruptibility_state);
  bool injecting = vmcs.read(VmcsField::vm_entry_interruption_info) & (1u << 31);
  if (!injecting && !(intr & (kBlockingByNmi | kBlockingBySti | kBlockingByMovSs))) {
    (void)vmcs.write(VmcsField::vm_entry_interruption_info, 2 | (2u << 8) | (1u << 31));
    vcpu.nmi_pending = false;
    return;
  }
  uint64_t proc = vmcs.read(VmcsField::primary_processor_based_controls);
  (void)vmcs.write(VmcsField::primary_processor_based_controls, proc | vmx::proc::nmi_window_exiting);
}

// A VM exit caused by an NMI leaves NMIs blocked in VMX root until the next IRET (SDM Vol
// 3C 28.x, "NMI blocking after VM exit"; KVM unblocks them the same way). Without this the
// next wake-up NMI from another CPU (init_sipi=intercept) would wait forever. IRET to the
// next instruction on the same stack, with the current flags (IF stays 0).
void unblock_nmis() {
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

// Exit reason 0 with interruption type 2 (SDM Vol 3C 25.9.2): an NMI arrived in the guest.
bool is_nmi_exit(vmx::VmcsAccess& vmcs, uint16_t basic) {
  if (basic != static_cast<uint16_t>(vmx::ExitReason::exception_or_nmi)) return false;
  return ((vmcs.read(VmcsField::vm_exit_interruption_info) >> 8) & 7) == 2;
}

}  // namespace
}  // namespace vmm

extern "C" void apex_handle_exit(vmm::Vcpu* vcpu) {
  using namespace vmm;
  enter_root(vcpu->index);
  vmx::HardwareVmcs vmcs;
  HardwareHostOps host;
  ExitContext ctx{*vcpu, vmcs, host, machine_vm()->policy};
  const uint64_t rsp_at_exit = vmcs.read(VmcsField::guest_rsp);
  vcpu->regs.gpr[4] = rsp_at_exit;  // the emulator's mirror of RSP
  vmx::ExitReasonField reason{static_cast<uint32_t>(vmcs.read(VmcsField::exit_reason))};
  if (reason.entry_failure()) stop_this_cpu(*vcpu, "VM entry failed (invalid guest state or MSR loading)", reason.basic());
  ExitAction action;
  const bool nmi_exit = is_nmi_exit(vmcs, reason.basic());
  if (nmi_exit) unblock_nmis();
  if (nmi_exit && apic::is_wakeup_nmi(*vcpu)) {
    // A wake-up NMI from another CPU (its mailbox holds INIT/STARTUP): not the guest's.
    ++vcpu->exits_total;
    ++vcpu->exit_counts[reason.basic()];
    action = ExitAction::resume();
  } else {
    action = dispatch_exit(ctx, reason.basic());
  }
  if (!apply_exit_action(ctx, action)) stop_this_cpu(*vcpu, action.reason ? action.reason : "stopped by handler", reason.basic());
  // Intercepted INIT parks this CPU here, in VMX root, until a STARTUP arrives.
  while (!apic::drain_ap_mailbox(ctx)) {
    if (vcpu->state == VcpuState::stopped) stop_this_cpu(*vcpu, "could not start after STARTUP", reason.basic());
    arch::cpu_pause();
  }
  if (vcpu->regs.gpr[4] != rsp_at_exit) (void)vmcs.write(VmcsField::guest_rsp, vcpu->regs.gpr[4]);
  deliver_pending_nmi(vmcs, *vcpu);
  if (vcpu->cr2_pending) {
    asm volatile("mov %0, %%cr2" ::"r"(vcpu->cr2));
    vcpu->cr2_pending = false;
  }
  // The EPT write monitor protected pages since this CPU's last entry: INVEPT here first.
  monitor::before_vm_entry(*vcpu);
  leave_root(vcpu->index);
}

extern "C" [[noreturn]] void apex_vmresume_failed(vmm::Vcpu* vcpu) {
  vmx::HardwareVmcs vmcs;
  APEX_LOG(fatal, "cpu%u: VMRESUME failed: VM-instruction error %llu", vcpu->index,
           static_cast<unsigned long long>(vmcs.read(vmx::VmcsField::vm_instruction_error)));
  vmm::dump_current_vmcs(vcpu->index, "VMRESUME failed");
  for (;;) {
    arch::cli();
    arch::cpu_halt();
  }
}
