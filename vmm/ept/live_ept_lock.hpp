// The one lock for changing the guest's EPT once CPUs run on it: the EPT write monitor's
// write protection (vmm/monitor/ept_platform.cpp) and MTRR re-typing (mtrr_resync.hpp) split
// and rewrite the same tables, and EptIdentityMap's updates must not run concurrently
// (ept_builder.hpp). Readers (translate) need no lock: a split links a complete table.
#pragma once
#include "arch/spinlock.hpp"

namespace vmm::ept {

inline arch::SpinLock& live_ept_lock() {
  static arch::SpinLock lock;
  return lock;
}

}  // namespace vmm::ept
