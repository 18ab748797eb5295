// Control-register, RFLAGS, EFER and IA32_DEBUGCTL bits (SDM Vol 3A 2.5, 2.2.1, 2.3, 17.4.1).
#pragma once
#include <stdint.h>

namespace arch {
namespace cr0 {
inline constexpr uint64_t PE = 1ull << 0, MP = 1ull << 1, EM = 1ull << 2, TS = 1ull << 3, ET = 1ull << 4,
                          NE = 1ull << 5, WP = 1ull << 16, AM = 1ull << 18, NW = 1ull << 29, CD = 1ull << 30,
                          PG = 1ull << 31;
}
namespace cr4 {
inline constexpr uint64_t VME = 1ull << 0, PVI = 1ull << 1, TSD = 1ull << 2, DE = 1ull << 3, PSE = 1ull << 4,
                          PAE = 1ull << 5, MCE = 1ull << 6, PGE = 1ull << 7, PCE = 1ull << 8,
                          OSFXSR = 1ull << 9, OSXMMEXCPT = 1ull << 10, UMIP = 1ull << 11, LA57 = 1ull << 12,
                          VMXE = 1ull << 13, SMXE = 1ull << 14, FSGSBASE = 1ull << 16, PCIDE = 1ull << 17,
                          OSXSAVE = 1ull << 18, SMEP = 1ull << 20, SMAP = 1ull << 21, PKE = 1ull << 22,
                          CET = 1ull << 23, PKS = 1ull << 24;
}
namespace efer {
inline constexpr uint64_t SCE = 1ull << 0, LME = 1ull << 8, LMA = 1ull << 10, NXE = 1ull << 11;
}
namespace rflags {
inline constexpr uint64_t CF = 1ull << 0, FIXED1 = 1ull << 1, PF = 1ull << 2, AF = 1ull << 4, ZF = 1ull << 6,
                          SF = 1ull << 7, TF = 1ull << 8, IF = 1ull << 9, DF = 1ull << 10, OF = 1ull << 11,
                          RF = 1ull << 16, VM = 1ull << 17, AC = 1ull << 18, ID = 1ull << 21;
}
// IA32_DEBUGCTL (SDM Vol 3A 17.4.1): BTF turns TF single-step into single-step on branches.
namespace debugctl {
inline constexpr uint64_t LBR = 1ull << 0, BTF = 1ull << 1;
}
}  // namespace arch
