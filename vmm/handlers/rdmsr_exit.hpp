// The RDMSR exit's body (exit reason 31), a template over the host operations, as CPUID's
// (cpuid_exit.hpp): the table's handler (handle_rdmsr, msr_access.cpp) runs it through
// HostOps, the exit path (vmm/launch/exit_entry.cpp) inline on the image's final
// HardwareHostOps, skipping the handler table's indirect call. Both run the same code.
// What happens to the MSR is msr_policy.def's read action (msr_read_action: one table load
// for the low bitmap range); msr_access.cpp says what each action means.
#pragma once
#include "arch/msr.hpp"
#include "vmm/exit_context.hpp"
#include "vmm/msr_policy.hpp"
#include "vmm/msr_verdict.hpp"

namespace vmm {

// IA32_FEATURE_CONTROL as the guest reads it (SDM Vol 3C 24.7 "Enabling and Entering VMX
// Operation"; Vol 4 Table 2-2): locked (bit 0), with both VMX enables (bits 1, 2) clear, so
// a guest concludes VMX is off and locked and never tries VMXON. The host's other bits
// (SENTER, SGX, LMCE) are kept.
constexpr uint64_t feature_control_for_guest(uint64_t host) {
  return (host & ~(arch::feature_control::kVmxInsideSmx | arch::feature_control::kVmxOutsideSmx)) |
         arch::feature_control::kLock;
}

// The emulated reads but IA32_FEATURE_CONTROL (the virtual MTRRs and IA32_MTRRCAP), out of
// line: false is #GP(0).
bool emulated_msr_read_other(ExitContext& ctx, uint32_t msr, uint64_t* value);

// The guest's RDMSR of `msr` (any form): false when it gets #GP(0). Starts this exit's record
// for hypercall 9 (vmm/msr_verdict.hpp); the caller finishes it with the guest's answer.
template <class Host>
bool msr_read_for_guest(ExitContext& ctx, Host& host, uint32_t msr, uint64_t* value) {
  *value = 0;
  const MsrRuleResult rule = msr_rule(msr);
  MsrVerdict& verdict = start_msr_verdict(ctx.vcpu.last_msr, msr, false, static_cast<uint8_t>(rule.row), rule.read);
  switch (rule.read) {
    case MsrAction::pass: {
      const bool completed = host.rdmsr_safe(msr, value);
      record_host_msr_access(verdict, completed, *value);
      return completed;
    }
    case MsrAction::emulate:
      if (msr == static_cast<uint32_t>(arch::Msr::IA32_FEATURE_CONTROL)) {
        *value = feature_control_for_guest(host.feature_control());
        return true;
      }
      // An "emulate" row without an emulation is a table bug; the guest sees the #GP of a
      // missing MSR rather than a made-up value.
      return emulated_msr_read_other(ctx, msr, value);
    case MsrAction::gp:
    case MsrAction::discard: break;  // a write-only action (msr_policy.cpp checks the table)
  }
  return false;
}

// RDMSR's answer, EDX:EAX = `value` with the high halves of RDX/RAX cleared (SDM Vol 2B RDMSR).
inline ExitAction rdmsr_result(Vcpu& vcpu, uint64_t value) {
  vcpu.regs.gpr[0] = static_cast<uint32_t>(value);
  vcpu.regs.gpr[2] = static_cast<uint32_t>(value >> 32);
  return ExitAction::advance();
}

// RDMSR through HostOps, every action (msr_access.cpp): the reads the fast path leaves.
ExitAction rdmsr_exit_slow(ExitContext& ctx);

// RDMSR of the MSR in ECX. The fast path answers what needs no memory and no call: the
// policy's #GP, and IA32_FEATURE_CONTROL's emulated read, the one a guest makes most (every
// OS checks it for VMX); pass-through reads (fault-safe), the virtual MTRRs and MSRs above
// the table go to rdmsr_exit_slow. Both answer by the same msr_policy.def row.
template <class Host>
[[gnu::always_inline]] inline ExitAction rdmsr_exit(ExitContext& ctx, Vcpu& vcpu, Host& host) {
  const uint32_t msr = static_cast<uint32_t>(vcpu.regs.gpr[1]);
  if (msr < detail::kMsrReadTableEnd) {  // above, the rows are searched once, in the slow path
    const MsrAction action = detail::msr_read_action_in_table(msr);
    // Hypercall 9's record in its short form (vmm/msr_verdict.hpp note_fast_msr_read).
    if (action == MsrAction::gp) {
      note_fast_msr_read(vcpu.last_msr, msr, 0);
      return ExitAction::gp0();
    }
    if (action == MsrAction::emulate && msr == static_cast<uint32_t>(arch::Msr::IA32_FEATURE_CONTROL)) {
      const uint64_t value = feature_control_for_guest(host.feature_control());
      note_fast_msr_read(vcpu.last_msr, msr, value);
      return rdmsr_result(vcpu, value);
    }
  }
  return rdmsr_exit_slow(ctx);
}

}  // namespace vmm
