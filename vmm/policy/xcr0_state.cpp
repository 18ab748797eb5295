#include "vmm/policy/xcr0_state.hpp"

namespace vmm::policy {

// EGPR contents across XCR0.APX changes, as KVM does it (spec.md §3 "init / re-enable
// behaviour" and §4.4 last row; source: the "KVM: x86: APX reg prep work" thread, mail [21],
// Sean Christopherson / Paolo Bonzini, 2026-03/04, carried into "KVM: x86: Enable APX for
// guests" v3/v4, where R16..R31 live in vcpu->arch.regs[VCPU_REGS_R16..R31]):
//  - first enable after RESET: the EGPRs start at zero (their init state). The physical
//    registers hold whatever the host or firmware left, so gpr[16..31] are zeroed here and the
//    next VM entry loads those zeros.
//  - disable: the exit that carried this XSETBV still ran with bit 19 set, so it saved the
//    guest's EGPRs into gpr[16..31]; from now on the stub skips them and the slots keep those
//    values untouched. (A guest with XCR0.APX=0 cannot read or write R16..R31.)
//  - re-enable: nothing is zeroed; the next entry restores the kept values.
// The architectural behaviour of XCR0.APX 1 -> 0 -> 1 is UNVERIFIED (spec.md §3, §8 q.4); this
// follows KVM, the reference.
void apply_xcr0(VcpuXcr0State& state, vmx::GprFile& gprs, uint64_t value) {
  const bool apx = (value & xcr0::APX) != 0;
  if (apx && !state.egprs_live) {
    for (unsigned n = 16; n < 32; ++n) gprs.gpr[n] = 0;
    state.egprs_live = 1;
  }
  state.xcr0 = value;
  state.save_egprs = apx ? 1 : 0;
}

void adopt_launch_xcr0(VcpuXcr0State& state, uint64_t current_xcr0) {
  const bool apx = (current_xcr0 & xcr0::APX) != 0;
  state.xcr0 = current_xcr0;
  state.save_egprs = apx ? 1 : 0;
  state.egprs_live = apx ? 1 : 0;
}

LaunchXcr0Read launch_xcr0_read(bool cpu_has_xsave, bool cr4_osxsave) {
  if (!cpu_has_xsave) return {false, false};
  return {true, !cr4_osxsave};
}

LaunchXcr0Verdict launch_xcr0_verdict(uint64_t firmware_xcr0, bool apx_exposed) {
  if (!(firmware_xcr0 & xcr0::APX)) return LaunchXcr0Verdict::adopt;
  return apx_exposed ? LaunchXcr0Verdict::adopt_capture_egprs : LaunchXcr0Verdict::refuse_apx_hidden;
}

const char* launch_xcr0_refusal(LaunchXcr0Verdict v) {
  if (v != LaunchXcr0Verdict::refuse_apx_hidden) return nullptr;
  return "the firmware runs with XCR0.APX set, but APX is hidden from guests (apx=off or not exposable): not adopted";
}

}  // namespace vmm::policy
