// Exit reason 55, XSETBV (SDM Vol 3C 26.1.2: XSETBV always exits). Validated, never passed
// through blindly (design.md invariants; HyperDbg #429): the operands are ECX (not RCX,
// ACRN #3360) and EDX:EAX; vmm/policy/xsetbv decides, every bad value gets the fault the
// instruction defines (SDM Vol 2C XSETBV: #GP(0), or #UD with CR4.OSXSAVE=0). A valid value
// is executed on the host — the guest's XCR0 stays loaded across exits — and the vCPU's XCR0
// shadow and EGPR-save flag follow it before the next entry.
#include "arch/cr_bits.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/policy/xsetbv.hpp"

namespace vmm {

ExitAction handle_xsetbv(ExitContext& ctx) {
  const policy::XsetbvOperands op = policy::xsetbv_operands(
      reg(ctx.vcpu, arch::Gpr::rcx), reg(ctx.vcpu, arch::Gpr::rdx), reg(ctx.vcpu, arch::Gpr::rax));
  const policy::XsetbvContext guest{ctx.policy.apx.guest_supported_xcr0,
                                    (guest_visible_cr4(ctx.vmcs) & arch::cr4::OSXSAVE) != 0, guest_cpl(ctx.vmcs)};
  const policy::XsetbvVerdict verdict = policy::validate_xsetbv(op.index, op.value, guest);
  // Kept before acting on it: hypercall 7 lets the guest compare the verdict with the SDM's
  // rules (a host XSETBV of a wrongly accepted value would fault too and hide the mistake).
  ctx.vcpu.last_xsetbv = {ctx.vcpu.last_xsetbv.exits + 1, op.value, op.index, verdict};
  if (verdict != policy::XsetbvVerdict::ok)
    return policy::xsetbv_verdict_vector(verdict) == vector::UD ? ExitAction::ud() : ExitAction::gp0();
  // The policy only offers components the host supports, so a fault here means the host and
  // the policy disagree; the guest gets the #GP a CPU without the component would raise.
  if (!ctx.host.xsetbv_safe(0, op.value)) return ExitAction::gp0();
  policy::apply_xcr0(ctx.vcpu.xstate, ctx.vcpu.regs, op.value);
  return ExitAction::advance();
}

}  // namespace vmm
