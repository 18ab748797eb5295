// Exit reasons 31 (RDMSR) and 32 (WRMSR), 84/85 (RDMSR/WRMSRNS with an immediate index) and
// 80/81 (URDMSR/UWRMSR). An access exits when the MSR bitmap, generated
// from vmm/msr_policy.def, says so, and always for MSRs outside the bitmap's two ranges
// (SDM Vol 3C 25.6.9, 26.1.3). msr_rule() says what to do:
//   pass    — execute it on the host with a fault-safe RDMSR/WRMSR: a #GP there (no such
//             MSR, bad value) becomes the guest's #GP(0), never a host crash (design.md
//             "Every guest fault is architectural");
//   emulate — computed (IA32_FEATURE_CONTROL: rdmsr_exit.hpp), read from and written to the virtual
//             MTRRs (the MTRRs and IA32_MTRRCAP: mtrr_write.hpp), or written with a side
//             effect or a check (the x2APIC ICR: vmm/apic/x2apic_icr; IA32_APIC_BASE:
//             vmm/apic/apic_base_write);
//   gp      — #GP(0), as on a CPU without the MSR (VMX capability MSRs: VMX is hidden; Intel
//             PT, the debug store, an outer hypervisor's MSRs: msr_policy.def says why);
//   discard — WRMSR only: dropped, the guest goes on (IA32_BIOS_UPDT_TRIG).
// The MSR index is ECX; RDMSR returns EDX:EAX with the high halves of RDX/RAX cleared, WRMSR
// takes EDX:EAX (SDM Vol 2B RDMSR/WRMSR).
#include "arch/msr.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/apic/apic_base_write.hpp"
#include "vmm/apic/x2apic_icr.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/handlers/mtrr_write.hpp"
#include "vmm/handlers/rdmsr_exit.hpp"
#include "vmm/msr_policy.hpp"
#include "vmm/msr_verdict.hpp"
#include "vmm/policy/cpuid_bits.hpp"
#include "vmx/instruction_info.hpp"

namespace vmm {
namespace {

uint32_t msr_index(Vcpu& vcpu) { return static_cast<uint32_t>(reg(vcpu, arch::Gpr::rcx)); }

// IA32_XSS without the Intel PT component: XRSTORS would otherwise load PT's MSRs (the
// output base among them) from memory the guest wrote, around the MSR policy. The CPU checks
// the other bits itself (a #GP there is the guest's).
ExitAction write_xss(ExitContext& ctx, uint64_t value) {
  if (value & (uint64_t{1} << policy::cpuid::kXssComponentPt)) return ExitAction::gp0();
  return ctx.host.wrmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_XSS), value) ? ExitAction::advance()
                                                                                  : ExitAction::gp0();
}

// The record of this exit for hypercall 9 (vmm/msr_verdict.hpp).
ExitAction finish_verdict(ExitContext& ctx, const ExitAction& a, uint64_t guest_value) {
  finish_msr_verdict(ctx.vcpu.last_msr, a.kind == ExitAction::Kind::inject ? a.event.vector : 0, guest_value);
  return a;
}

// The guest's WRMSR of `value` to `msr`, whichever form.
ExitAction write_for_guest(ExitContext& ctx, uint32_t msr, uint64_t value) {
  const MsrRuleResult rule = msr_rule(msr);
  MsrVerdict& verdict = start_msr_verdict(ctx.vcpu.last_msr, msr, true, static_cast<uint8_t>(rule.row), rule.write);
  switch (rule.write) {
    case MsrAction::pass: {
      const bool completed = ctx.host.wrmsr_safe(msr, value);
      record_host_msr_access(verdict, completed, value);
      if (!completed) return ExitAction::gp0();
      return ExitAction::advance();
    }
    case MsrAction::emulate:
      if (msr == static_cast<uint32_t>(arch::Msr::IA32_X2APIC_ICR)) return apic::handle_x2apic_icr_write(ctx, value);
      if (msr == static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE)) return apic::handle_apic_base_write(ctx, value);
      if (is_virtual_mtrr_msr(msr)) return handle_mtrr_write(ctx, msr, value);
      if (msr == static_cast<uint32_t>(arch::Msr::IA32_XSS)) return write_xss(ctx, value);
      return ExitAction::gp0();  // an "emulate" row without an emulation here is a table bug
    case MsrAction::gp:
      return ExitAction::gp0();
    case MsrAction::discard:
      return ExitAction::advance();
  }
  return ExitAction::gp0();
}

// The forms with the MSR index in the instruction: RDMSR/WRMSRNS with an immediate (exits
// 84, 85) and the user-mode URDMSR/UWRMSR (80, 81; the CPU has checked the OS's user-MSR
// permission before the exit). The index is the exit qualification (bits 31:0), the GPR is
// reg1 of the instruction information (KVM vmx_get_msr_imm_reg; Xen user_msr_instr_info), and
// the whole 64-bit register is the value. They consult the same MSR bitmap as RDMSR/WRMSR
// (Xen answers them with the same intercepts), so the same policy answers them; without these
// handlers a CPU with MSR_IMM or USER_MSR (CPUID passes both through) would stop on the first.
uint32_t msr_index_from_qualification(ExitContext& ctx) {
  return static_cast<uint32_t>(ctx.vmcs.read(vmx::VmcsField::exit_qualification));
}

unsigned msr_operand_gpr(ExitContext& ctx, vmx::InsnInfoKind kind) {
  return vmx::read_instruction_info(ctx.vmcs, ctx.policy.exit_info_form, kind).reg1;
}

ExitAction read_msr_to_register(ExitContext& ctx, vmx::InsnInfoKind kind) {
  uint64_t value = 0;
  if (!msr_read_for_guest(ctx, ctx.host, msr_index_from_qualification(ctx), &value))
    return finish_verdict(ctx, ExitAction::gp0(), 0);
  const unsigned gpr = msr_operand_gpr(ctx, kind);
  if (!write_gpr(ctx, gpr, value)) return ExitAction::stop("RDMSR to a register: VMWRITE failed");
  return finish_verdict(ctx, ExitAction::advance(), value);
}

ExitAction write_msr_from_register(ExitContext& ctx, vmx::InsnInfoKind kind) {
  const uint64_t value = read_gpr(ctx, msr_operand_gpr(ctx, kind));
  return finish_verdict(ctx, write_for_guest(ctx, msr_index_from_qualification(ctx), value), value);
}

// EDX:EAX as one value.
uint64_t edx_eax(Vcpu& vcpu) {
  return (uint64_t{static_cast<uint32_t>(reg(vcpu, arch::Gpr::rdx))} << 32) |
         static_cast<uint32_t>(reg(vcpu, arch::Gpr::rax));
}

}  // namespace

// The MTRRs and IA32_MTRRCAP: the machine's virtual MTRRs, never the hardware's (#GP for an
// MTRR the CPU lacks, as RDMSR would give). IA32_FEATURE_CONTROL is rdmsr_exit.hpp's.
bool emulated_msr_read_other(ExitContext&, uint32_t msr, uint64_t* value) {
  if (is_virtual_mtrr_msr(msr)) return read_virtual_mtrr(msr, value);
  return false;
}

ExitAction rdmsr_exit_slow(ExitContext& ctx) {
  uint64_t value;
  if (!msr_read_for_guest(ctx, ctx.host, msr_index(ctx.vcpu), &value)) return finish_verdict(ctx, ExitAction::gp0(), 0);
  return finish_verdict(ctx, rdmsr_result(ctx.vcpu, value), value);
}

// The same body as the exit path's inline one (vmm/launch/exit_entry.cpp), through HostOps.
ExitAction handle_rdmsr(ExitContext& ctx) { return rdmsr_exit(ctx, ctx.vcpu, ctx.host); }

ExitAction handle_wrmsr(ExitContext& ctx) {
  const uint64_t value = edx_eax(ctx.vcpu);
  return finish_verdict(ctx, write_for_guest(ctx, msr_index(ctx.vcpu), value), value);
}

ExitAction handle_rdmsr_immediate(ExitContext& ctx) { return read_msr_to_register(ctx, vmx::InsnInfoKind::msr_immediate); }

ExitAction handle_wrmsrns_immediate(ExitContext& ctx) {
  return write_msr_from_register(ctx, vmx::InsnInfoKind::msr_immediate);
}

ExitAction handle_urdmsr(ExitContext& ctx) { return read_msr_to_register(ctx, vmx::InsnInfoKind::user_msr); }

ExitAction handle_uwrmsr(ExitContext& ctx) { return write_msr_from_register(ctx, vmx::InsnInfoKind::user_msr); }

}  // namespace vmm
