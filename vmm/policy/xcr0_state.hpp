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

}  // namespace vmm::policy
