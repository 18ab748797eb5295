// A recogniser for the two instructions Linux and OVMF use to write local-APIC registers,
// `MOV m32, r32` (89 /r) and `MOV m32, imm32` (C7 /0), with a memory destination, and (as
// match_mov_load32) for the one they read them with, `MOV r32, m32` (8B /r). The hypervisor
// tries it before the general decoder (decode.hpp, Zydis-backed) when an access to the
// xAPIC page exits (a write to the write-protected page; a read the CPU's APIC
// virtualization does not answer): matching these bytes costs a few dozen instructions, a
// full decode thousands.
//
// It answers only for encodings whose meaning it knows completely and otherwise says "not
// mine" (with the rule that declined), so the caller falls back to the general path:
//  - 64-bit mode, or 32-bit protected/compatibility mode (CS.D=1); never 16-bit code;
//  - no legacy prefix at all (no 66/67, LOCK, REP, segment overrides), so the operand is
//    always 32 bits and the address size the mode's own;
//  - in 64-bit mode, at most one REX (40-4F, W=0) right before the opcode, or one REX2
//    (D5 + payload: M0=0, W=0; only when the guest has enabled APX, else D5 is #UD);
//  - the length of ModRM, SIB and displacement exactly per SDM Vol 2A 2.1.5 Tables 2-2/2-3
//    (32- and 64-bit addressing are the same length; mod=00 r/m=101 is disp32, RIP-relative
//    in 64-bit mode; SIB base=101 with mod=00 is disp32; REX.B/REX2.B3/B4 do not change
//    either special case).
// The effective address is not computed: the VM exit reports the guest-physical address.
// Pure and freestanding: host-testable, no decoder state, reads at most 13 bytes.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/instruction.hpp"

namespace decode {

// Why the bytes are not a store this recogniser handles (one value per rule).
enum class MovStore32Miss : uint8_t {
  none,                  // matched
  truncated,             // the bytes end before the instruction does: fetch more, ask again
  mode,                  // 16-bit code (CS.D=0 outside 64-bit mode)
  prefix,                // a legacy prefix, a REX not directly before the opcode, REX then REX2
  rex_w,                 // REX.W or REX2.W: a 64-bit store
  rex2_map,              // REX2.M0=1: an opcode of the 0F map
  rex2_disabled,         // D5 while the guest's XCR0.APX is clear (REX2 raises #UD there)
  opcode,                // neither 89 nor C7 (a load: not 8B)
  register_destination,  // ModRM.mod=11: a register operand, not memory
  c7_not_mov,            // C7 with ModRM.reg != 0 (C7 /0 is the only MOV there)
};

const char* mov_store32_miss_text(MovStore32Miss why);

struct MovStore32 {
  MovStore32Miss miss = MovStore32Miss::opcode;
  uint8_t length = 0;      // when matched: the whole instruction, prefixes included
  bool immediate = false;  // C7 /0: the value is `imm`; 89: the low 32 bits of gpr[`reg`]
  uint8_t reg = 0;         // 89: source register number 0..31 (REX.R, REX2.R3/R4 applied);
                           // 8B (match_mov_load32): the destination register
  uint32_t imm = 0;        // C7 /0

  constexpr bool ok() const { return miss == MovStore32Miss::none; }
};

// `bytes[0..available)` at the guest's RIP; `mode` its code size; `apx` the guest's XCR0.APX.
MovStore32 match_mov_store32(const uint8_t* bytes, size_t available, CpuMode mode, bool apx);
// The same rules for `MOV r32, m32` (8B /r); `reg` is the destination, zero-extended to 64
// bits when written (SDM Vol 1 3.4.1.1).
MovStore32 match_mov_load32(const uint8_t* bytes, size_t available, CpuMode mode, bool apx);

}  // namespace decode
