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

// Fills a 4 KiB VMX MSR bitmap (SDM Vol 3C 25.6.9): a set bit makes the access exit.
void build_msr_bitmap(uint8_t* bitmap);

// Whether an access to `msr` exits, per the bitmap layout (MSRs outside both ranges always do).
bool msr_bitmap_exits(const uint8_t* bitmap, uint32_t msr, bool write);

}  // namespace vmm
