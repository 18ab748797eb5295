// apexvisor's instruction decoder: the entry point.
//
//   decode::Instruction insn = decode::decode(bytes, available, decode::CpuMode::bits64, apx);
//   switch (insn.fault) {
//     case decode::Fault::none:      // insn.length, insn.mnemonic, insn.operands[...]
//       if (!insn.emulatable()) ...  // EVEX with APX extensions: decoded, never emulated
//                                    // (the hypervisor's answer: vmm/handlers/emulate_at_rip.hpp)
//     case decode::Fault::ud:        // inject #UD; decode::reason_text(insn.reason) says why
//     case decode::Fault::gp:        // longer than 15 bytes: inject #GP(0)
//     case decode::Fault::truncated: // fetch more guest bytes (up to 15) and decode again
//   }
//
// Freestanding: no allocation, no exceptions, no floating point; safe on any input bytes.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/instruction.hpp"

namespace decode {

struct Options {
  CpuMode mode = CpuMode::bits64;
  bool apx = true;         // guest XCR0.APX (and CR4.OSXSAVE): REX2 and EVEX EGPRs are legal
  bool real_mode = false;  // with bits16: real/virtual-8086 mode (no VEX/EVEX; C4/C5 are LES/LDS)
};

// Decodes one instruction from bytes[0..available). Reads at most 15 bytes (plus one more to
// tell "too long" from "truncated").
Instruction decode(const uint8_t* bytes, size_t available, CpuMode mode, bool apx_enabled);
Instruction decode(const uint8_t* bytes, size_t available, const Options& options);

// Same, into caller storage (keeps a VMX-root stack frame to one Instruction).
void decode_into(const uint8_t* bytes, size_t available, const Options& options, Instruction& out);

}  // namespace decode
