// REX2 #UD opcode rows (spec §1.2, §1.3), from rex2_reserved.def.
#include "decode/rex2.hpp"

namespace decode {
namespace {

struct ReservedRow {
  uint8_t map;
  uint8_t first;
  uint8_t last;
  Reason reason;
};

constexpr ReservedRow kReserved[] = {
#define REX2_RESERVED(map, first, last, reason) {map, first, last, Reason::reason},
#include "decode/rex2_reserved.def"
#undef REX2_RESERVED
};

}  // namespace

Reason rex2_opcode_rule(uint8_t m0, uint8_t opcode) {
  for (const ReservedRow& row : kReserved) {
    if (row.map == m0 && opcode >= row.first && opcode <= row.last) return row.reason;
  }
  return Reason::ok;
}

}  // namespace decode
