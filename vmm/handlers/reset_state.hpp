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

// What the guest reads in CR0 after INIT: CD, NW and ET set (Table 10-1).
inline constexpr uint64_t kCr0AfterInit = 0x60000010;
// DR7 after INIT: bit 10 is reserved and reads as 1 (Table 10-1).
inline constexpr uint64_t kDr7AfterInit = 0x400;

}  // namespace vmm
