// Bits of the guest non-register state fields (SDM Vol 3C 25.4.2 "Guest Non-Register
// State"): the interruptibility state (Table 25-3) and the pending debug exceptions (Table
// 25-4). One place for them: the dispatcher, the NMI delivery and the INIT reset use them.
#pragma once
#include <stdint.h>

namespace vmx {

namespace interruptibility {
// Blocking by STI and by MOV SS end with the next instruction that completes.
inline constexpr uint64_t blocking_by_sti = 1u << 0, blocking_by_mov_ss = 1u << 1, blocking_by_smi = 1u << 2,
                          blocking_by_nmi = 1u << 3, enclave = 1u << 4;
}

namespace pending_debug {
// B3:0: a data or I/O breakpoint matched; enabled_breakpoint: one of them is enabled in DR7;
// bs: a single-step trap (RFLAGS.TF=1) is pending; rtm: inside an RTM region.
inline constexpr uint64_t b_mask = 0xf, enabled_breakpoint = 1u << 12, bs = 1u << 14, rtm = 1u << 16;
}

}  // namespace vmx
