// Architectural general-purpose register numbers and names, generated from gpr_table.def.
#pragma once
#include <stdint.h>

namespace arch {

enum class Gpr : uint8_t {
#define GPR_ANY(n, q, d, w, b) q = n,
#include "arch/gpr_table.def"
#undef GPR_ANY
};

inline constexpr unsigned kGprCount = 32;
inline constexpr unsigned kLegacyGprCount = 16;

// Operand width selects which name table applies.
enum class GprWidth : uint8_t { b8, b16, b32, b64 };

// Name of register `n` (0..31) at `width`. For 8-bit, numbers 4..7 name SPL..DIL (the
// REX/REX2 meaning); the legacy AH/CH/DH/BH are handled by the decoder, not here.
const char* gpr_name(unsigned n, GprWidth width);

}  // namespace arch
