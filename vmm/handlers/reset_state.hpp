// The architectural state of a CPU after INIT followed by a start-up IPI, loaded into the
// current VMCS and the vCPU (SDM Vol 3A 10.1.1, Table 10-1 "IA-32 and Intel 64 Processor
// States Following Power-up, Reset, or INIT", column INIT; 10.4 for the INIT-SIPI protocol;
// the SIPI vector VV selects the real-mode start address 000VV000H, Vol 3A 11.6.1, ICR
// delivery mode "Start Up"). Used by the SIPI exit handler, and by the INIT/SIPI intercept
// mode later.
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm {

// Loads the post-INIT state with CS:IP = (vector << 8):0000 and makes the vCPU active.
// Needs the unrestricted-guest control (real mode with CR0.PE=0, SDM Vol 3C 26.6); returns
// false and changes nothing without it, or false when a VMWRITE failed.
[[nodiscard]] bool load_sipi_state(ExitContext& ctx, uint8_t vector);

// INIT to the bootstrap processor (SDM Vol 3A 9.4.2 / 8.4.2: "subsequent INITs ... each
// logical processor examines its BSP flag (in the IA32_APIC_BASE MSR) to determine whether it
// should execute the BIOS boot-strap code (if it is the BSP) or enter a wait-for-SIPI state
// (if it is an AP)"): the same post-INIT state, started at the reset vector, CS F000 base
// FFFF0000 IP FFF0 (Table 10-1), active at once. Same conditions as load_sipi_state.
[[nodiscard]] bool load_reset_vector_state(ExitContext& ctx);
inline constexpr uint16_t kResetCsSelector = 0xf000;
inline constexpr uint64_t kResetCsBase = 0xffff0000;
inline constexpr uint64_t kResetRip = 0xfff0;

// IA32_APIC_BASE.BSP (bit 8) of the CPU handling the exit: the flag INIT consults. False
// where the MSR cannot be read.
bool is_bootstrap_processor(ExitContext& ctx);
inline constexpr uint64_t kApicBaseBsp = 1ull << 8;

// INIT drops a pending NMI (Table 10-1: the CPU's state is reset; an NMI is not held across
// it) and with it the NMI window opened for it. False when the VMWRITE failed.
[[nodiscard]] bool drop_pending_nmi(ExitContext& ctx);

// INIT on the BSP: the reset-vector state, a pending NMI and its window dropped (INIT drops
// them), one rate-limited warning. Used by the INIT exit and by the intercepted INIT.
ExitAction restart_bootstrap_processor(ExitContext& ctx);

// What the guest reads in CR0 after INIT: CD, NW and ET set (Table 10-1).
inline constexpr uint64_t kCr0AfterInit = 0x60000010;
// DR7 after INIT: bit 10 is reserved and reads as 1 (Table 10-1).
inline constexpr uint64_t kDr7AfterInit = 0x400;

}  // namespace vmm
