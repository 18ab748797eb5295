// The bytes at the guest's CS:RIP, read the way the processor fetches them: RIP canonical in
// 64-bit mode (SDM Vol 1 3.3.7.1), every byte inside the CS limit elsewhere (Vol 3A 5.3), at
// most 15 bytes (Vol 2A 2.3.11), through ctx.mem as instruction fetches. A page at a time:
// the part on RIP's page first, the next page only when the instruction needs it, so that a
// fault there is raised only when the instruction really continues onto it. Shared by
// fetch_instruction() (the full decoder) and the hypervisor's MOV-store fast path
// (decode/mov_store32.hpp), so both see the same bytes and the same fetch faults.
//
//   CodeFetch f;
//   Result r = f.start(ctx);                        // ok, or #GP(0)/#PF fault, bad_gpa, retry
//   ... decode f.bytes()[0 .. f.size()) ...
//   if (decoder says truncated && f.can_grow()) r = f.grow();   // then decode again
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/emulate/emu_context.hpp"
#include "decode/emulate/emulate.hpp"

namespace decode::emulate {

class CodeFetch {
 public:
  // Checks RIP against the mode's rules and reads the part of the instruction on RIP's page.
  Result start(const EmuContext& ctx);
  // Reads the rest of the 15-byte window (or up to the CS limit) from the next page.
  Result grow();
  bool can_grow() const { return have_ < max_; }

  const uint8_t* bytes() const { return bytes_; }
  size_t size() const { return have_; }

 private:
  LinearMemory* mem_ = nullptr;
  uint64_t linear_ = 0;
  bool long_mode_ = false;
  size_t have_ = 0;
  size_t max_ = 0;
  uint8_t bytes_[kMaxInstructionLength + 1] = {};
};

}  // namespace decode::emulate
