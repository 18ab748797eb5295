// From a memory operand to a linear address: the effective address (SDM Vol 1 3.7.5
// "Specifying an Offset"), then segmentation — the canonical check in 64-bit mode (Vol 1
// 3.3.7.1, Vol 3A 3.3.7.1), limit and type checks elsewhere (Vol 3A 5.3 "Limit Checking",
// 5.5 "Privilege Levels" / 5.4.1 type checks) — and the alignment check (Vol 3A 6.15 #AC).
#pragma once
#include <stdint.h>

#include "decode/emulate/emu_context.hpp"
#include "decode/emulate/emulate.hpp"
#include "decode/instruction.hpp"

namespace decode::emulate {

// base + index * scale + disp, truncated to m.addr_bits. A RIP-relative operand's base is the
// address of the next instruction (`next_rip`). Registers are read at their width in the
// operand (BX in 16-bit addressing, EAX under a 67 prefix in 64-bit mode).
uint64_t effective_address(const Mem& m, const uint64_t* gpr, uint64_t next_rip);

struct Linear {
  bool ok = false;
  Exception fault;     // when !ok: #GP(0), or #SS(0) for an access through SS
  uint64_t address = 0;
};

// An access of `bytes` bytes at offset `ea` of segment `s`; `write` for writes and for the
// read of a read-modify-write.
//  64-bit mode: linear = ea + (FS/GS base); both ends must be canonical (48 or 57 bits).
//  otherwise:   the segment must be usable and of a type that allows the access (skipped in
//               real/virtual-8086 mode), every byte inside the limit (expand-up or
//               expand-down), and linear = (base + ea) mod 2^32.
Linear segment_access(const EmuContext& ctx, Sreg s, uint64_t ea, unsigned bytes, bool write);

// Canonical: bits 63:47 (63:56 with LA57) all equal (SDM Vol 1 3.3.7.1).
constexpr bool canonical(uint64_t linear, bool la57) {
  const unsigned shift = la57 ? 56 : 47;
  const uint64_t top = linear >> shift;
  return top == 0 || top == (~0ull >> shift);
}

// #AC(0) applies: CR0.AM = 1, RFLAGS.AC = 1, CPL 3, and a 2/4/8-byte data access that is not
// naturally aligned (SDM Vol 3A 6.15, Table 6-7 for the operand alignments).
bool alignment_fault(const EmuContext& ctx, uint64_t linear, unsigned bytes);

}  // namespace decode::emulate
