// The instruction emulator: carries out one decoded guest instruction that touched memory the
// hypervisor intercepts (EPT write monitor, descriptor-table and MMIO exits), on the vCPU's
// registers and through the guest's paging.
//
//   decode::Instruction insn;
//   Result f = fetch_instruction(ctx, /*apx=*/guest_xcr0_apx, insn);   // decode at CS:RIP
//   if (f.outcome != Outcome::ok) ...                                   // #PF/#GP on the fetch
//   Result r = emulate(insn, ctx);
//   switch (r.outcome) {
//     case Outcome::ok:          // write ctx.rip / ctx.rflags / gpr[4] back to the VMCS
//     case Outcome::fault:       // inject r.exception (with CR2 for #PF); RIP unchanged
//     case Outcome::unsupported: // not emulated: r.why says which rule; fall back
//     case Outcome::bad_gpa:     // the access reached r.gpa, which is not guest RAM
//     case Outcome::retry:       // guest page tables changed under the walk: just resume
//   }
//
// Emulated: MOV (88-8B, C6/C7, A0-A3 moffs), MOVZX/MOVSX/MOVSXD, XCHG, ADD/ADC/SUB/SBB/AND/
// OR/XOR/CMP (00-3D, 80/81/83), TEST (84/85, A8/A9, F6/F7 /0 /1), INC/DEC (FE/FF /0 /1,
// 40-4F outside 64-bit mode), NEG/NOT, BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-/7), SETcc,
// CMOVcc, STOS and MOVS with REP — legacy, REX and REX2 encodings, 16/32/64-bit modes,
// register and memory operands. Everything else is `unsupported`, never a guess.
//
// Flags the SDM leaves undefined get what the measured host does (an AMD EPYC, checked by
// tests/emulate/native_diff.cpp on every run; Intel parts not yet measured): AF = 0 after
// AND/OR/XOR/TEST; BT/BTS/BTR/BTC change only CF and leave OF/SF/ZF/AF/PF as they were.
//
// Freestanding: no allocation, no exceptions, no floating point; any Instruction (even one
// that is not `ok`) and any register/memory contents give one of the outcomes above.
#pragma once
#include <stdint.h>

#include "decode/emulate/emu_context.hpp"
#include "decode/instruction.hpp"

namespace decode::emulate {

// Exception vectors the emulator raises (SDM Vol 3A 6.3.1 Table 6-1). vmm/exit_action.hpp
// holds the hypervisor's copy; vmm/guest_memory/emu_state.cpp checks that they agree.
namespace vector {
inline constexpr uint8_t DB = 1, UD = 6, SS = 12, GP = 13, PF = 14, AC = 17;
}

struct Exception {
  uint8_t vector = 0;
  bool has_error_code = false;
  uint32_t error_code = 0;
  uint64_t cr2 = 0;  // #PF only: the faulting linear address

  static constexpr Exception gp0() { return {vector::GP, true, 0, 0}; }
  static constexpr Exception ss0() { return {vector::SS, true, 0, 0}; }
  static constexpr Exception ud() { return {vector::UD, false, 0, 0}; }
  static constexpr Exception ac0() { return {vector::AC, true, 0, 0}; }
  static constexpr Exception pf(uint32_t error, uint64_t linear) { return {vector::PF, true, error, linear}; }
};

enum class Outcome : uint8_t { ok, fault, unsupported, bad_gpa, retry };

// Why an instruction was not emulated (Outcome::unsupported).
enum class Unsupported : uint8_t {
  none,
  not_decoded,     // insn.fault != none, or EVEX-APX (insn.emulatable() is false)
  mode_mismatch,   // insn.mode differs from ctx.mode
  no_context,      // ctx.gpr or ctx.mem is null
  encoding,        // VEX/EVEX/XOP/3DNow!: the emulator handles legacy, REX and REX2 only
  mnemonic,        // an instruction outside the list in this header
  operand_form,    // a supported mnemonic with operands the emulator does not expect
};
const char* unsupported_text(Unsupported why);
const char* outcome_name(Outcome o);

struct Result {
  Outcome outcome = Outcome::ok;
  Exception exception;             // fault
  Unsupported why = Unsupported::none;
  uint64_t gpa = 0;                // bad_gpa
  bool completed = false;          // ok: the instruction finished and ctx.rip was advanced;
                                   // false: a REP string op yielded after ctx.rep_budget
  bool single_step = false;        // ok + completed with RFLAGS.TF=1 before the instruction:
                                   // deliver the single-step #DB trap (SDM Vol 3A 17.3.1.4)
};

// Emulates `insn` (decoded at ctx.rip in ctx.mode) on ctx. On `ok`, ctx.gpr, ctx.rflags
// (RF cleared, SDM Vol 3A 17.3.1.1) and ctx.rip are updated and memory written. On any other
// outcome nothing is written to memory, registers or RIP — except that a REP string
// instruction keeps the iterations it completed before the fault (RCX/RSI/RDI), exactly as
// hardware reports a fault in the middle of a REP (SDM Vol 1 7.3.9.3).
Result emulate(const Instruction& insn, EmuContext& ctx);

// The end of every emulated instruction, for emulate() and for callers that carry out an
// instruction themselves (the hypervisor's MOV-store fast path): RIP moves past the `length`
// bytes (EIP/IP wrap outside 64-bit mode), RF clears (SDM Vol 3A 17.3.1.1), and the result
// is ok + completed, with single_step set when `rflags_before` (RFLAGS as the instruction
// began) had TF set (SDM Vol 3A 17.3.1.4).
Result complete_instruction(EmuContext& ctx, unsigned length, uint64_t rflags_before);

// Fetches the instruction at CS:RIP through ctx.mem (instruction-fetch accesses, a page at a
// time so that a fault on the next page only happens when the instruction needs it) and
// decodes it in ctx.mode. `apx` is the guest's XCR0.APX (REX2/EGPR legality). Returns ok with
// `out` filled (out.fault may still be ud/gp: the caller injects it), fault (#PF on the fetch,
// #GP(0) past the CS limit or non-canonical RIP), bad_gpa or retry.
Result fetch_instruction(EmuContext& ctx, bool apx, Instruction& out);

}  // namespace decode::emulate
