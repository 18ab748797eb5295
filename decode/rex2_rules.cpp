// REX2 #UD opcode rows (spec §1.2, §1.3), from rex2_reserved.def.
#include "decode/rex2.hpp"
#include "apexvisor_mutation.h"  // tests/mutation/run only

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
#ifdef APEXVISOR_MUTATION_REX2_WRONG_REASON
  if (m0 == 0 && opcode >= 0x88 && opcode <= 0x8B) return Reason::rex2_map0_70_7f;
#endif
  for (const ReservedRow& row : kReserved) {
    if (row.map == m0 && opcode >= row.first && opcode <= row.last) return row.reason;
  }
  return Reason::ok;
}

}  // namespace decode
