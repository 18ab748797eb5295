// CMPccXADD (VEX.128.66.0F38 E0-EF /r, and its EVEX promotion): newer than Zydis 4.0.0.
// Decoded through SHLX (VEX.66.0F38 F7 /r), which has the same operand fields (ModRM.reg,
// ModRM.rm, VEX.vvvv, W-sized GPRs); the memory operand, the ModRM.reg register and the vvvv
// register are then put in CMPccXADD's order: m, r, vvvv.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/instruction.hpp"

namespace decode {

// `bytes[at]` is a C4 (three-byte VEX). Returns false when the bytes are not CMPccXADD-shaped
// (map 0F38, pp 66, opcode E0-EF); otherwise fills `out` (a fault when, e.g., ModRM names a
// register instead of memory) and returns true. out.length is the VEX encoding's length.
bool decode_cmpccxadd(const uint8_t* bytes, size_t available, size_t at, Instruction& out);

}  // namespace decode
