#include "vmm/log/cause_limiter.hpp"

#include "apexvisor_mutation.h"  // tests/mutation/run only

namespace vmm {

CauseLimiter::Verdict CauseLimiter::admit(const void* cause) {
  arch::SpinGuard guard(lock_);
  Slot* slot = &slots_[kSlots - 1];  // shared by the causes that found no slot of their own
  for (unsigned i = 0; i < kSlots - 1; ++i) {
    if (slots_[i].cause == cause) {
      slot = &slots_[i];
      break;
    }
    if (slots_[i].cause == nullptr) {
      slots_[i].cause = cause;
      slot = &slots_[i];
      break;
    }
  }
  const uint64_t n = ++slot->seen;
  Verdict v;
  v.seen = n;
#ifdef APEXVISOR_MUTATION_GUEST_LOG_UNLIMITED
  v.print = true;
#else
  v.print = n <= kBurst || (n & (n - 1)) == 0;
#endif
  if (v.print) {
    v.suppressed = n - 1 - slot->printed_at;
    slot->printed_at = n;
  }
  return v;
}

}  // namespace vmm
