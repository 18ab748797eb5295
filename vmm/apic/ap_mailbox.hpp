// The per-CPU mailbox through which one CPU's intercepted INIT/STARTUP reaches another
// (ap_start.hpp explains why). Senders post in order; only the owning CPU takes events out.
// `kicks` counts the NMIs sent to wake the owner, so that it can tell its own wake-up NMIs
// from the guest's NMIs (which it must re-inject).
#pragma once
#include <stdint.h>

#include "vmm/pending_work.hpp"

namespace vmm::apic {

struct ApEvent {
  enum class Kind : uint8_t { init, startup } kind;
  uint8_t vector;  // STARTUP only
};

class ApMailbox {
 public:
  static constexpr unsigned kCapacity = 8;

  // The owner's pending-work word (vmm/pending_work.hpp): post() sets pending::mailbox there
  // after the event is in the ring, so that the owner's exit path, which tests only that
  // word, drains the mailbox. Attached once, before the owner's first VM entry
  // (prepare_exit_context) and before any other CPU can see the owner as virtualized.
  void attach(PendingWork* owner) { owner_ = owner; }

  // Any CPU. Returns false when full (the event is dropped and logged by the caller).
  bool post(ApEvent e);
  // The owning CPU only.
  bool take(ApEvent* e);
  bool empty() const { return __atomic_load_n(&head_, __ATOMIC_ACQUIRE) == __atomic_load_n(&tail_, __ATOMIC_ACQUIRE); }

  void note_kick() { __atomic_add_fetch(&kicks_, 1u, __ATOMIC_ACQ_REL); }
  // Consumes one wake-up NMI if any is outstanding; false means the NMI was the guest's.
  bool consume_kick();

 private:
  void lock();
  void unlock();
  ApEvent ring_[kCapacity] = {};
  uint32_t head_ = 0;  // next to take
  uint32_t tail_ = 0;  // next free
  uint32_t lock_ = 0;
  uint32_t kicks_ = 0;
  PendingWork* owner_ = nullptr;
};

}  // namespace vmm::apic
