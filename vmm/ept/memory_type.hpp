// Memory types (SDM Vol. 3A 12.3, Table 12-2; 12.11.1 encodings). The same encodings are used by
// the MTRRs (12.11.2) and by the memory-type field of an EPT leaf entry (Vol. 3C 29.3.7).
#pragma once
#include <stdint.h>

namespace vmm::ept {

enum class MemoryType : uint8_t {
  uc = 0,  // uncacheable
  wc = 1,  // write combining
  wt = 4,  // write-through
  wp = 5,  // write-protected
  wb = 6,  // write-back
};

// 2, 3 and 7..255 are reserved (Table 12-8); an EPT leaf with one is a misconfiguration (29.3.3.1).
constexpr bool is_valid_memory_type(uint8_t raw) {
  return raw == 0 || raw == 1 || raw == 4 || raw == 5 || raw == 6;
}

constexpr const char* memory_type_name(MemoryType t) {
  switch (t) {
    case MemoryType::uc: return "UC";
    case MemoryType::wc: return "WC";
    case MemoryType::wt: return "WT";
    case MemoryType::wp: return "WP";
    case MemoryType::wb: return "WB";
  }
  return "??";
}

}  // namespace vmm::ept
