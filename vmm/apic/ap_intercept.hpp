// What happens to an intercepted ICR write (init_sipi=intercept; ap_start.hpp says why):
// INIT and STARTUP aimed at virtualized CPUs are posted to their mailboxes and the targets
// are woken with an NMI; everything else — other delivery modes, and INIT/STARTUP for CPUs
// apexvisor does not run — goes to the real local APIC unchanged.
#pragma once
#include <stdint.h>

#include "vmm/apic/ap_mailbox.hpp"
#include "vmm/apic/ap_start.hpp"
#include "vmm/apic/icr.hpp"

namespace vmm::apic {

// The real local APIC of the CPU handling the exit (image: xAPIC MMIO or x2APIC MSRs).
class LocalApic {
 public:
  // An NMI to one CPU by physical APIC id: the wake-up for a mailbox.
  virtual void send_nmi(uint32_t apic_id) = 0;
  // The guest's IPI as it wrote it (xAPIC: low word; high word = destination register).
  virtual void send_raw(uint64_t icr_value) = 0;
  // The same IPI, but to one CPU by physical APIC id (for CPUs apexvisor does not run).
  virtual void send_to(const Icr& icr, uint32_t apic_id) = 0;

 protected:
  ~LocalApic() = default;
};

// Per-CPU facts the intercept needs: is that CPU a guest of apexvisor, and its mailbox.
class ApTargets {
 public:
  virtual bool virtualized(unsigned cpu) = 0;
  virtual ApMailbox* mailbox(unsigned cpu) = 0;

 protected:
  ~ApTargets() = default;
};

struct InterceptOutcome {
  bool sent_raw;        // the write went to the real APIC unchanged
  unsigned posted;      // mailbox events posted (INIT/STARTUP to virtualized CPUs)
  unsigned passed_on;   // INIT/STARTUP sent for real to CPUs apexvisor does not run
  unsigned dropped;     // a full mailbox (logged by the caller)
  bool self_posted;     // the sender itself was a target: it must drain its own mailbox
};

InterceptOutcome intercept_icr_write(const Icr& icr, uint64_t raw_value, unsigned sender, const ApicTopology& topo,
                                     ApTargets& targets, LocalApic& apic);

}  // namespace vmm::apic
