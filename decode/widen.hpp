// Extends the 4-bit register numbers Zydis decoded from an equivalent legacy encoding to the
// 5-bit numbers of APX (spec §1.1 "register number"): reg = R4:R3:ModRM.reg,
// rm/base = B4:B3:ModRM.rm (or SIB.base, or opcode[2:0]), index = X4:X3:SIB.index.
// Only GPRs grow; for every other register class the 4th bit is ignored (APX spec, quoted in
// LLVM PR #82584), except CR/DR, which the REX2 decoder rejects before calling this.
#pragma once
#include <stdint.h>

#include "decode/instruction.hpp"

namespace decode {

// The R/X/B bits of a REX2 (or EVEX) prefix, positive polarity.
struct RegExtension {
  uint8_t r3 = 0, r4 = 0, x3 = 0, x4 = 0, b3 = 0, b4 = 0;
  uint8_t v4 = 0;        // EVEX only: bit 4 of vvvv
};

// Rewrites the GPR operands of `out` (converted from Zydis) with the full register numbers,
// from the raw ModRM/SIB/opcode fields in `out` (opcode-register forms: 50+r, B8+r, 90+r, ...).
void widen_registers(Instruction& out, const RegExtension& ext);

}  // namespace decode
