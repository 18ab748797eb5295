// The vCPU's shadow of guest XCR0 and the exit stub's "save EGPRs" flag, which always change
// together (design.md "Entry/exit assembly"; vmx/asm/guest_gprs.inc reads the flag).
#pragma once
#include <stdint.h>

#include "vmx/gpr_file.hpp"
#include "vmm/policy/xcr0_bits.hpp"

namespace vmm::policy {

struct VcpuXcr0State {
  uint64_t xcr0 = xcr0::X87;  // the guest's XCR0 (RESET value 1, SDM Vol 1 13.3)
  // The flag the exit stub tests (`cmpb $0, flag`): 1 iff xcr0 bit 19 (APX) is set, i.e. iff
  // R16..R31 may be touched while the guest's XCR0 is loaded. A byte, for the stub.
  uint8_t save_egprs = 0;
  // Bit 19 has been set at least once since RESET: gpr[16..31] hold the guest's EGPRs.
  uint8_t egprs_live = 0;
};

// After a validated XSETBV has been executed on the host (so `value` is now the loaded XCR0),
// before the next VM entry. Updates the shadow and the flag together, and on the FIRST enable
// of bit 19 zeroes gpr[16..31]; a disable keeps them, a re-enable restores them (see .cpp).
void apply_xcr0(VcpuXcr0State& state, vmx::GprFile& gprs, uint64_t value);

// At launch, when the guest's XCR0 is captured from the running firmware rather than written
// by the guest: shadow and flag follow `current_xcr0`, and nothing is zeroed. If bit 19 is set
// the EGPRs are live in the CPU and the caller must first capture them into gpr[16..31] (the
// stub's SAVE path does that); the first entry then restores them unchanged.
void adopt_launch_xcr0(VcpuXcr0State& state, uint64_t current_xcr0);

// How the launch learns the firmware's XCR0. XGETBV raises #UD unless CR4.OSXSAVE=1 (SDM Vol 2
// XGETBV), and OVMF leaves CR4.OSXSAVE clear, but XCR0 keeps its value while CR4.OSXSAVE is
// clear: after a warm boot it may still hold what an OS set, APX included. So with XSAVE
// present the launch sets CR4.OSXSAVE for the read (and the capture) and restores CR4 after.
// Without XSAVE there is no XCR0 to read and the guest's is its RESET value, 1.
struct LaunchXcr0Read {
  bool read_xcr0;    // execute XGETBV(0)
  bool set_osxsave;  // with CR4.OSXSAVE set around it, CR4 restored afterwards
};
LaunchXcr0Read launch_xcr0_read(bool cpu_has_xsave, bool cr4_osxsave);

// What the launch does with the firmware's XCR0 (adopt_launch_xcr0 for both adopt verdicts).
enum class LaunchXcr0Verdict : uint8_t {
  adopt,                // XCR0.APX=0: the stub never touches an EGPR
  adopt_capture_egprs,  // XCR0.APX=1 and APX is exposed: capture R16..R31 into gpr[16..31]
                        // (apex_capture_guest_egprs) before VMLAUNCH; the guest keeps them
  refuse_apx_hidden,    // XCR0.APX=1 but APX is hidden from guests (apx=off, or the host
                        // cannot expose it safely): adopting would let the guest use EGPRs
                        // that its CPUID denies; this CPU is not virtualized
};
LaunchXcr0Verdict launch_xcr0_verdict(uint64_t firmware_xcr0, bool apx_exposed);
// The launch's refusal text for refuse_apx_hidden; nullptr for the adopt verdicts.
const char* launch_xcr0_refusal(LaunchXcr0Verdict v);

}  // namespace vmm::policy
