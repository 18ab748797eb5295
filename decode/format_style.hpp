// Internal to the formatter: where LLVM's Intel printer departs from a plain reading of the
// decoded instruction (mnemonic spellings, which operands it writes, memory size keywords,
// how it signs immediates). One function per question, so format.cpp stays mechanical.
#pragma once
#include <stdint.h>

#include "decode/instruction.hpp"
#include "decode/text_sink.hpp"

namespace decode::style {

// Prefix words LLVM prints before the mnemonic ("lock ", "rep ", "{nf} ", ...).
void prefix_words(const Instruction& insn, TextSink& out);

// The mnemonic as LLVM spells it.
void mnemonic(const Instruction& insn, TextSink& out);

// Text between the mnemonic and the operands (CCMP/CTEST "{dfv=...}").
void after_mnemonic(const Instruction& insn, TextSink& out);

// Whether operand `i` appears in the text.
bool operand_shown(const Instruction& insn, unsigned i);

// String instructions (MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS): Zydis lists their operands
// as hidden, LLVM writes them ("movsb byte ptr es:[rdi], byte ptr [rsi]"). Fills `order` with
// operand indices in LLVM's order and returns how many; 0 for any other instruction.
unsigned string_operand_order(const Instruction& insn, int order[3]);

// Operand indices in the order LLVM writes them (XCHG register forms swap). Returns the count.
unsigned operand_order(const Instruction& insn, int order[kMaxOperands]);

// "byte", "word", ..., or nullptr for no "<size> ptr".
const char* memory_size_keyword(const Instruction& insn, const Operand& op);

// Whether an immediate prints as a signed number (else zero-extended from its width).
bool immediate_signed(const Instruction& insn, const Operand& op);

// The width a register operand is written with (LAR/LSL name their selector register
// at 16 bits: "lar eax, cx").
uint16_t register_bits(const Instruction& insn, const Operand& op);

// Whether an explicit segment prefix is written for this memory operand.
bool segment_shown(const Instruction& insn, const Operand& op);

}  // namespace decode::style
