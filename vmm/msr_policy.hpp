// Which MSR accesses the hypervisor intercepts, and what it does with them (msr_policy.def).
#pragma once
#include <stdint.h>

namespace vmm {

enum class MsrAction : uint8_t { pass, emulate, gp, discard };

struct MsrRuleResult {
  MsrAction read;
  MsrAction write;
  const char* why;  // nullptr for pass-through MSRs
  unsigned row;     // the deciding row of msr_policy.def, 1 = the first; 0: none (pass-through)
};

MsrRuleResult msr_rule(uint32_t msr);

// One row of msr_policy.def.
struct MsrRule {
  uint32_t first, last;
  MsrAction read, write;
  const char* why;
};
// The table itself, for the unit tests that walk it; *count gets the number of rows.
const MsrRule* msr_rules(unsigned* count);

// The read action of `msr`: msr_rule(msr).read. Inline for the RDMSR exit's fast path
// (vmm/handlers/rdmsr_exit.hpp): below 2000h (the bitmap's low range, where every MSR a
// guest reads in practice lies) it is one load from kMsrReadActions, a table generated from
// msr_policy.def at compile time; above, the rows are searched (msr_rule).
inline MsrAction msr_read_action(uint32_t msr);

// Fills a 4 KiB VMX MSR bitmap (SDM Vol 3C 25.6.9): a set bit makes the access exit.
void build_msr_bitmap(uint8_t* bitmap);

// Whether an access to `msr` exits, per the bitmap layout (MSRs outside both ranges always do).
bool msr_bitmap_exits(const uint8_t* bitmap, uint32_t msr, bool write);

namespace detail {
// msr_policy.def's rows, in its order (the first matching row decides).
inline constexpr MsrRule kMsrRules[] = {
#define MSR_RULE(first, last, r, w, why) {first, last, MsrAction::r, MsrAction::w, why},
#include "vmm/msr_policy.def"
#undef MSR_RULE
};

// The read action of every MSR below kMsrReadTableEnd, two bits each (MsrAction fits: reads
// are never `discard`, msr_policy.cpp checks it), generated from kMsrRules: the rows are laid
// down last to first, so that the first matching row's action is the one left.
inline constexpr uint32_t kMsrReadTableEnd = 0x2000;
struct MsrReadTable {
  uint8_t packed[kMsrReadTableEnd / 4] = {};
  constexpr MsrReadTable() {
    for (unsigned i = sizeof kMsrRules / sizeof kMsrRules[0]; i-- > 0;) {
      const MsrRule& r = kMsrRules[i];
      for (uint64_t msr = r.first; msr <= r.last && msr < kMsrReadTableEnd; ++msr) {
        const unsigned shift = (msr % 4) * 2;
        packed[msr / 4] = static_cast<uint8_t>((packed[msr / 4] & ~(3u << shift)) |
                                               (static_cast<unsigned>(r.read) << shift));
      }
    }
  }
};
inline constexpr MsrReadTable kMsrReadActions;
}  // namespace detail

namespace detail {
// msr < kMsrReadTableEnd.
inline MsrAction msr_read_action_in_table(uint32_t msr) {
  return static_cast<MsrAction>((kMsrReadActions.packed[msr / 4] >> ((msr % 4) * 2)) & 3);
}
}  // namespace detail

inline MsrAction msr_read_action(uint32_t msr) {
  return msr < detail::kMsrReadTableEnd ? detail::msr_read_action_in_table(msr) : msr_rule(msr).read;
}

}  // namespace vmm
