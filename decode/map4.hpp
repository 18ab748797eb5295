// EVEX map 4: APX's promoted legacy integer instructions (spec §2, "map 4 (100b) = promoted
// legacy integer instructions"), decoded through their legacy encodings (map4_table.def).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/instruction.hpp"
#include "decode/prefix_scan.hpp"

namespace decode {

// bytes[scan.end] == 0x62 with EVEX.map == 4, 64-bit mode, APX enabled. Fills out's operands,
// mnemonic and length (fault none), or a fault. The caller sets evex/apx/reason on success.
void decode_map4(const uint8_t* bytes, size_t available, const PrefixScan& scan, const Evex& e, Instruction& out);

}  // namespace decode
