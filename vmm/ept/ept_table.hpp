// Reading and writing entries of a live EPT table. The processor may walk a table while the
// hypervisor changes it, so every entry is read and written with one aligned 64-bit access
// (SDM Vol. 3A 9.1.1: such accesses are atomic); a new table is filled before it is linked.
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_entry.hpp"

namespace vmm::ept {

inline EptEntry load_entry(const uint64_t* table, unsigned index) {
  return EptEntry{__atomic_load_n(&table[index], __ATOMIC_RELAXED)};
}

inline void store_entry(uint64_t* table, unsigned index, EptEntry e) {
  __atomic_store_n(&table[index], e.raw, __ATOMIC_RELEASE);
}

}  // namespace vmm::ept
