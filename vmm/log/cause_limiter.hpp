// Rate limiting for log lines a guest can cause (issue P8: "logging never blocks a CPU on a
// guest's behalf"). A guest that repeats an action the hypervisor reports (a refused APIC
// move, an MTRR change, a write into hypervisor memory) must not turn the UART into a channel
// it floods: each cause — one call site, named by its format string — prints its first
// kBurst lines, then only its 2^k-th line (16th, 32nd, ...), which says how many were left
// out since the last one. A flood of a million lines prints about 28. No clock is needed, so
// the result is the same on every machine and in the unit tests.
#pragma once
#include <stdint.h>

#include "arch/spinlock.hpp"

namespace vmm {

class CauseLimiter {
 public:
  static constexpr unsigned kSlots = 64;   // distinct causes tracked; the rest share the last slot
  static constexpr uint64_t kBurst = 8;    // lines of one cause printed before suppression starts

  struct Verdict {
    bool print = false;
    uint64_t suppressed = 0;  // lines of this cause left out since the last one printed
    uint64_t seen = 0;        // lines of this cause so far, this one included
  };
  // One more line of `cause`; safe on several CPUs at once.
  Verdict admit(const void* cause);

 private:
  struct Slot {
    const void* cause = nullptr;
    uint64_t seen = 0;
    uint64_t printed_at = 0;  // `seen` when the last line was printed
  };
  arch::SpinLock lock_;
  Slot slots_[kSlots] = {};
};

}  // namespace vmm
