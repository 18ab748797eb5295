#include "boot/vmx_readiness.hpp"

#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "arch/msr.hpp"
#include "vmx/capabilities.hpp"
#include "vmx/vmx_insn.hpp"

namespace boot {

using arch::Msr;
namespace fc = arch::feature_control;

namespace {
uint64_t read_msr(void*, uint32_t msr) { return arch::rdmsr(msr); }
}  // namespace

bool host_enumerates_apx() {
  return arch::cpuid(0).eax >= 7 && arch::cpuid(7, 0).eax >= 1 && (arch::cpuid(7, 1).edx & (1u << 21));
}

void probe_vmx_on_this_cpu(VmxReadiness* r, void* vmxon_region) {
  // CPUID.1:ECX[5] (SDM Vol 3C 24.6 "Discovering support for VMX").
  r->cpuid_vmx = arch::cpuid(1).ecx & (1u << 5);
  if (!r->cpuid_vmx) {
    r->reason = "CPUID.1:ECX.VMX[bit 5] is 0: this CPU (or the hypervisor below us) offers no VMX";
    return;
  }
  // IA32_FEATURE_CONTROL (SDM 24.7): VMXON #GPs unless locked with VMX-outside-SMX on.
  r->feature_control_before = arch::rdmsr(Msr::IA32_FEATURE_CONTROL);
  r->feature_control = r->feature_control_before;
  if (!(r->feature_control & fc::kLock)) {
    r->feature_control |= fc::kLock | fc::kVmxOutsideSmx;
    arch::wrmsr(Msr::IA32_FEATURE_CONTROL, r->feature_control);
    r->feature_control = arch::rdmsr(Msr::IA32_FEATURE_CONTROL);
    r->feature_control_set_by_us = true;
  }
  if (!(r->feature_control & fc::kVmxOutsideSmx)) {
    r->reason = "IA32_FEATURE_CONTROL is locked with VMX-outside-SMX disabled: enable VT-x in the firmware setup";
    return;
  }

  r->basic = arch::rdmsr(Msr::IA32_VMX_BASIC);
  r->true_controls = r->basic & (1ull << 55);  // SDM A.1: TRUE_ MSRs exist
  r->pinbased = arch::rdmsr(r->true_controls ? Msr::IA32_VMX_TRUE_PINBASED_CTLS : Msr::IA32_VMX_PINBASED_CTLS);
  r->procbased = arch::rdmsr(r->true_controls ? Msr::IA32_VMX_TRUE_PROCBASED_CTLS : Msr::IA32_VMX_PROCBASED_CTLS);
  r->exit = arch::rdmsr(r->true_controls ? Msr::IA32_VMX_TRUE_EXIT_CTLS : Msr::IA32_VMX_EXIT_CTLS);
  r->entry = arch::rdmsr(r->true_controls ? Msr::IA32_VMX_TRUE_ENTRY_CTLS : Msr::IA32_VMX_ENTRY_CTLS);
  r->misc = arch::rdmsr(Msr::IA32_VMX_MISC);
  r->cr0_fixed0 = arch::rdmsr(Msr::IA32_VMX_CR0_FIXED0);
  r->cr0_fixed1 = arch::rdmsr(Msr::IA32_VMX_CR0_FIXED1);
  r->cr4_fixed0 = arch::rdmsr(Msr::IA32_VMX_CR4_FIXED0);
  r->cr4_fixed1 = arch::rdmsr(Msr::IA32_VMX_CR4_FIXED1);
  if (r->has_secondary()) r->procbased2 = arch::rdmsr(Msr::IA32_VMX_PROCBASED_CTLS2);
  if (r->has_ept() || r->has_vpid()) r->ept_vpid = arch::rdmsr(Msr::IA32_VMX_EPT_VPID_CAP);

  // VMXON needs the fixed CR0/CR4 bits (SDM A.7, A.8) and CR4.VMXE; restore both after.
  const uint64_t cr0 = arch::read_cr0(), cr4 = arch::read_cr4();
  arch::write_cr0((cr0 | r->cr0_fixed0) & r->cr0_fixed1);
  arch::write_cr4((cr4 | r->cr4_fixed0 | arch::cr4::VMXE) & r->cr4_fixed1);
  *static_cast<uint32_t*>(vmxon_region) = static_cast<uint32_t>(r->basic & 0x7fffffff);  // revision id
  vmx::VmxStatus on = vmx::vmxon(reinterpret_cast<uint64_t>(vmxon_region));
  if (on == vmx::VmxStatus::ok) {
    r->vmxon_ok = vmx::vmxoff() == vmx::VmxStatus::ok;
    if (!r->vmxon_ok) r->reason = "VMXOFF failed after a successful VMXON";
    // What apexvisor requires of this CPU's own VMX, checked here as the launch will check it
    // (hybrid parts differ per core type): a CPU that passes VMXON but lacks a required control
    // is not ready, so that the all-or-nothing rule covers it before any CPU launches.
    if (r->vmxon_ok) {
      const vmx::CheckResult c =
          vmx::check_required(vmx::load_capabilities(read_msr, nullptr, host_enumerates_apx()));
      if (!c.ok) r->vmxon_ok = false, r->reason = c.reason;
    }
  } else {
    r->reason = on == vmx::VmxStatus::fail_invalid ? "VMXON failed (VMfailInvalid: bad VMXON region or already in VMX operation)"
                                                   : "VMXON failed (VMfailValid)";
  }
  arch::write_cr4(cr4);
  arch::write_cr0(cr0);
}

}  // namespace boot
