// The one place that talks to Zydis 4.0.0 (used as a library): decode a byte buffer and turn
// Zydis's result into apexvisor's model (decode/instruction.hpp).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <Zydis/Decoder.h>

#include "decode/instruction.hpp"

namespace decode {

struct ZydisOutput {
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

// Decodes `bytes[0..length)` in `mode` (real_mode: 16-bit real/virtual-8086 rules for VEX/EVEX).
// mpx=false decodes 0F 1A/1B as the hint NOPs they are on CPUs without MPX (every APX CPU:
// spec §3 "MPX and APX conflict").
ZyanStatus zydis_decode(const uint8_t* bytes, size_t length, CpuMode mode, bool real_mode, ZydisOutput& z,
                        bool mpx = true);

// The Reason for a failed Zydis status (truncated, too_long, invalid_opcode, ...).
Reason reason_from_zydis(ZyanStatus status);

// Architectural register for a Zydis register (GPR numbers 0..15; AH..BH -> high8).
Reg reg_from_zydis(ZydisRegister r);

// Fills out's mnemonic, sizes, map/opcode, ModRM/SIB, AVX extras and operands from `z`.
// Does not touch fault/reason/length/prefixes/rex2/evex.
void convert_from_zydis(const ZydisOutput& z, Instruction& out);

}  // namespace decode
