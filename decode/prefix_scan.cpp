#include "decode/prefix_scan.hpp"

namespace decode {

PrefixScan scan_prefixes(const uint8_t* bytes, size_t available, CpuMode mode) {
  PrefixScan s;
  size_t i = 0;
  const size_t limit = available < kMaxInstructionLength ? available : kMaxInstructionLength;
  uint8_t rex = 0;
  for (; i < limit; ++i) {
    const uint8_t b = bytes[i];
    if (is_rex(b, mode)) {
      rex = b;  // a later REX replaces an earlier one
      continue;
    }
    if (!is_legacy_prefix(b)) break;
    rex = 0;  // a REX followed by a legacy prefix is ignored (SDM Vol. 2 §2.2.1)
    switch (b) {
      case 0xF0: s.prefixes.lock = true; break;
      case 0xF2: s.prefixes.repne = true; s.prefixes.last_rep = b; break;
      case 0xF3: s.prefixes.rep = true; s.prefixes.last_rep = b; break;
      case 0x66: s.prefixes.opsize = true; break;
      case 0x67: s.prefixes.addrsize = true; break;
      default: s.prefixes.segment = b; break;  // the last segment override wins
    }
  }
  s.end = i;
  s.rex_right_before = rex != 0;
  s.prefixes.rex = rex;
  s.prefixes.count = static_cast<uint8_t>(rex ? i - 1 : i);
  return s;
}

}  // namespace decode
