// Work due before a CPU's next VM entry, one bit per kind in one word of its vCPU, so that
// the exit stub (vmx/entry/vm_entry_exit.S) tests a single word on every exit instead of
// each source in turn (NOVA's deferred-work mask). Whoever arms a kind of work sets its bit
// in the same step; the entry path does the work and clears the bit.
//
// Why it is race-free:
// - Every change is one locked read-modify-write (`lock or`, `lock and`) of the whole word,
//   so no writer loses another's bit: not this CPU's NMI handler interrupting its own exit
//   path, not another CPU posting to this one's mailbox.
// - A bit set for work that another CPU arms (mailbox, monitor_flush) is only a hint; the
//   work's own state (the mailbox ring, the monitor's EPT generation) stays the truth. The
//   setter publishes that state first and sets the bit after (release); the entry path
//   clears the bit first and reads the state after. A setter racing with the clear either
//   lands before it (the entry path sees its state) or after it (the bit stays set and the
//   next exit looks again, as it would have without the word).
// - nmi and cr2 are armed and consumed by this CPU alone (its handlers, its NMI handler in
//   VMX root): for them the bit is the state itself.
#pragma once
#include <stdint.h>

namespace vmm {

namespace pending {
inline constexpr uint32_t nmi = 1u << 0;      // an NMI for the guest: inject it or open an NMI window
inline constexpr uint32_t cr2 = 1u << 1;      // load Vcpu::cr2 into CR2 (an emulated #PF)
inline constexpr uint32_t mailbox = 1u << 2;  // INIT/STARTUP posted to this CPU (vmm/apic/ap_mailbox.hpp)
inline constexpr uint32_t monitor_flush = 1u << 3;  // the write monitor's EPT generation may have moved
}  // namespace pending

class PendingWork {
 public:
  void set(uint32_t bits) { __atomic_fetch_or(&bits_, bits, __ATOMIC_RELEASE); }
  void clear(uint32_t bits) { __atomic_fetch_and(&bits_, ~bits, __ATOMIC_ACQ_REL); }
  bool has(uint32_t bits) const { return (__atomic_load_n(&bits_, __ATOMIC_ACQUIRE) & bits) != 0; }
  // The exit path's one test. A plain load is an acquire on x86.
  uint32_t any() const { return __atomic_load_n(&bits_, __ATOMIC_ACQUIRE); }

 private:
  uint32_t bits_ = 0;
};

}  // namespace vmm
