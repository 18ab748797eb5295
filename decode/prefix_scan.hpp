// Legacy-prefix and REX scan (SDM Vol. 2 §2.1.1, §2.2.1): finds where the prefixes end, so the
// decoder can tell REX2 (D5 in 64-bit mode) and EVEX (62) from everything Zydis handles.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/instruction.hpp"

namespace decode {

struct PrefixScan {
  size_t end = 0;              // index of the first byte that is not a legacy prefix or REX
  Prefixes prefixes;           // what the scanned bytes mean (REX only if right before `end`)
  bool rex_right_before = false;  // bytes[end-1] is a REX (40-4F in 64-bit mode)
};

// Legacy prefix bytes: F0 F2 F3 2E 36 3E 26 64 65 66 67 (SDM Vol. 2 §2.1.1).
constexpr bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xF0: case 0xF2: case 0xF3:
    case 0x2E: case 0x36: case 0x3E: case 0x26: case 0x64: case 0x65:
    case 0x66: case 0x67:
      return true;
    default:
      return false;
  }
}

// REX is 40-4F, and only in 64-bit mode (elsewhere these are INC/DEC).
constexpr bool is_rex(uint8_t b, CpuMode mode) { return mode == CpuMode::bits64 && (b & 0xF0) == 0x40; }

// Scans at most kMaxInstructionLength bytes of `bytes[0..available)`.
PrefixScan scan_prefixes(const uint8_t* bytes, size_t available, CpuMode mode);

}  // namespace decode
