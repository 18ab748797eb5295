#include "vmm/apic/ap_mailbox.hpp"

namespace vmm::apic {

void ApMailbox::lock() {
  while (__atomic_exchange_n(&lock_, 1u, __ATOMIC_ACQUIRE))
    while (__atomic_load_n(&lock_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
}

void ApMailbox::unlock() { __atomic_store_n(&lock_, 0u, __ATOMIC_RELEASE); }

bool ApMailbox::post(ApEvent e) {
  lock();
  bool ok = tail_ - head_ < kCapacity;
  if (ok) {
    ring_[tail_ % kCapacity] = e;
    __atomic_store_n(&tail_, tail_ + 1, __ATOMIC_RELEASE);
  }
  unlock();
  // After the event is published (the ring's release above): an owner that sees the bit
  // finds the event; one that cleared the bit before this finds it set again.
  if (ok && owner_) owner_->set(pending::mailbox);
  return ok;
}

bool ApMailbox::take(ApEvent* e) {
  lock();
  bool ok = head_ != tail_;
  if (ok) {
    *e = ring_[head_ % kCapacity];
    __atomic_store_n(&head_, head_ + 1, __ATOMIC_RELEASE);
  }
  unlock();
  return ok;
}

bool ApMailbox::consume_kick() {
  uint32_t k = __atomic_load_n(&kicks_, __ATOMIC_ACQUIRE);
  while (k) {
    if (__atomic_compare_exchange_n(&kicks_, &k, k - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return true;
  }
  return false;
}

}  // namespace vmm::apic
