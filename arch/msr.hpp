// MSR numbers (from msr_table.def) and the IA32_FEATURE_CONTROL bits (SDM Vol 4, Table 2-2).
#pragma once
#include <stdint.h>

namespace arch {

enum class Msr : uint32_t {
#define MSR(name, number) name = number,
#include "arch/msr_table.def"
#undef MSR
};

// Name of a known MSR, or nullptr.
const char* msr_name(uint32_t number);

namespace feature_control {
inline constexpr uint64_t kLock = 1ull << 0;
inline constexpr uint64_t kVmxInsideSmx = 1ull << 1;
inline constexpr uint64_t kVmxOutsideSmx = 1ull << 2;
}  // namespace feature_control

}  // namespace arch
