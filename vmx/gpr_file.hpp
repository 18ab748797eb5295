// The vCPU's general-purpose register file: gpr[32] indexed by architectural register
// number (arch/gpr_table.def), so a decoded 5-bit register field indexes it directly and
// the exit stub's save offsets are simply 8*n. RSP lives in the VMCS; gpr[4] mirrors it
// for the emulator (design.md "The vCPU register file").
#pragma once
#include <stdint.h>
#include "arch/gpr.hpp"

namespace vmx {

struct GprFile {
  uint64_t gpr[arch::kGprCount];
};
static_assert(sizeof(GprFile) == 8 * 32, "the exit stub addresses gpr[n] at 8*n");

}  // namespace vmx
