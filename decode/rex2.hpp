// The REX2 prefix (spec §1): payload fields, the opcode rows it makes #UD, and the decode of
// an instruction that carries it.
#pragma once
#include <stddef.h>
#include "apexvisor_mutation.h"  // tests/mutation/run only
#include <stdint.h>

#include "decode/instruction.hpp"
#include "decode/prefix_scan.hpp"

namespace decode {

// D5 | M0 R4 X4 B4 W R3 X3 B3 (spec §1.1 table "Encoding": bit 7 = M0 ... bit 0 = B3).
constexpr Rex2 parse_rex2_payload(uint8_t p) {
  Rex2 r;
  r.present = true;
  r.payload = p;
  r.m0 = (p >> 7) & 1;
  r.r4 = (p >> 6) & 1;
  r.x4 = (p >> 5) & 1;
#ifdef APEXVISOR_MUTATION_REX2_B4_ZERO
  r.b4 = 0;
#else
  r.b4 = (p >> 4) & 1;
#endif
  r.w = (p >> 3) & 1;
  r.r3 = (p >> 2) & 1;
  r.x3 = (p >> 1) & 1;
  r.b3 = p & 1;
  return r;
}

// Reason::ok if `opcode` may follow REX2 in map `m0`, else the rule it breaks (rex2_reserved.def).
// JMPABS (map 0 A1) is not covered here.
Reason rex2_opcode_rule(uint8_t m0, uint8_t opcode);

// Decodes the instruction whose REX2 prefix starts at bytes[scan.end] (64-bit mode, APX on,
// no REX right before it). Fills `out` completely, faults included.
void decode_rex2(const uint8_t* bytes, size_t available, const PrefixScan& scan, Instruction& out);

}  // namespace decode
