// Intel-syntax text for a decoded instruction, in the style of LLVM's X86 Intel printer
// (llvm-mc -output-asm-variant=1): lowercase, decimal immediates, `dword ptr [r16 + 4*rax + 8]`,
// `r16d`/`r16w`/`r16b`, `{nf}`/`{evex}` tags. The `intel` column of tests/decode/data/apx_vectors.tsv is
// this format with runs of whitespace collapsed to one space, and so is our output.
//
// Freestanding: writes into the caller's buffer, never allocates.
#pragma once
#include <stddef.h>

#include "decode/instruction.hpp"

namespace decode {

// Writes the whole instruction ("lock add qword ptr [rax + r25], r25"). The buffer is always
// NUL-terminated when size > 0; returns the length the full text needs (as snprintf does), so
// a return value >= size means it was cut. For an instruction that did not decode it writes
// "(bad)".
size_t format_intel(const Instruction& insn, char* buf, size_t size);

// Only the mnemonic as the printer spells it ("movabs", "cmpordps", "pushp", "ccmpe", ...).
size_t format_mnemonic(const Instruction& insn, char* buf, size_t size);

// One register name ("r16d", "ah", "xmm3", "st(1)", "cr8", "k1").
size_t format_register(const Reg& reg, char* buf, size_t size);

// One operand ("dword ptr fs:[r16 + 4*rax + 8]", "-1", "r17").
size_t format_operand(const Instruction& insn, const Operand& op, char* buf, size_t size);

}  // namespace decode
