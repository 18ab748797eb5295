// A test-and-test-and-set spinlock for VMX root, where interrupts are off and nothing may
// sleep. Holders keep it for a bounded, short time (an EPT update, a monitor bookkeeping step).
#pragma once
#include <stdint.h>

namespace arch {

class SpinLock {
 public:
  void lock() {
    while (__atomic_exchange_n(&word_, 1u, __ATOMIC_ACQUIRE))
      while (__atomic_load_n(&word_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
  }
  void unlock() { __atomic_store_n(&word_, 0u, __ATOMIC_RELEASE); }

 private:
  uint32_t word_ = 0;
};

// Holds a SpinLock for a scope.
class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& l) : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace arch
