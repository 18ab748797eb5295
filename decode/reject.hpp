// Internal to decode/: the one way a decode path gives up. The fault follows from the reason
// (reason_table.def); `consumed` is informational (bytes looked at), not a length.
#pragma once
#include <stddef.h>

#include "decode/instruction.hpp"

namespace decode {

inline void reject(Instruction& out, Reason r, size_t consumed) {
  out.fault = reason_fault(r);
  out.reason = r;
  out.length = static_cast<uint8_t>(consumed > 0xFF ? 0xFF : consumed);
  out.operand_count = 0;
}

}  // namespace decode
