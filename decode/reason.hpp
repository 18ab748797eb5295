// Decode outcomes: the fault an instruction raises and the rule that decided it.
// Generated from decode/reason_table.def (one table per fact, design.md "Invariants").
#pragma once
#include <stdint.h>

namespace decode {

// What the hypervisor does with the bytes it was given.
enum class Fault : uint8_t {
  none,       // decoded: length and operands are valid
  ud,         // the instruction raises #UD
  gp,         // the instruction raises #GP(0) (longer than 15 bytes)
  truncated,  // the available bytes end first: fetch more and decode again
};

enum class Reason : uint8_t {
#define DECODE_REASON(id, fault, tag, text) id,
#include "decode/reason_table.def"
#undef DECODE_REASON
};

// The fault a reason implies (reason_table.def column 2).
Fault reason_fault(Reason r);
// Short rule name, e.g. "map0 70-7f" (column 3).
const char* reason_tag(Reason r);
// One line naming the rule and its spec row (column 4).
const char* reason_text(Reason r);
// Enumerator name, e.g. "rex2_map0_70_7f".
const char* reason_id(Reason r);
// "none", "ud", "gp", "truncated".
const char* fault_name(Fault f);

}  // namespace decode
