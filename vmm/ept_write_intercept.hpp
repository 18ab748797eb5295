// Guest-physical pages the hypervisor write-protects in the EPT on purpose and resolves by
// emulating the writing instruction: the local-APIC page (init_sipi=intercept, P6) and the
// pages of the EPT write monitor (P4). An EPT violation on a write there goes to the owner
// (on_write, or on_event_delivery when an event's delivery wrote: no instruction then);
// anywhere else it stops the guest (vmm/handlers/ept_violation.cpp).
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm {

class EptWriteIntercept {
 public:
  virtual bool covers(uint64_t gpa) = 0;
  virtual ExitAction on_write(ExitContext& ctx, uint64_t gpa) = 0;
  // The write is an event delivery's push (ExitContext::event_delivery: the dispatcher has
  // injected the event again): there is no instruction at RIP to emulate; make the delivery
  // possible and resume.
  virtual ExitAction on_event_delivery(ExitContext& ctx, uint64_t gpa) = 0;

 protected:
  ~EptWriteIntercept() = default;
};

inline constexpr unsigned kMaxEptWriteIntercepts = 4;

// Registered before any CPU is launched; read-only afterwards.
bool register_ept_write_intercept(EptWriteIntercept* owner);
EptWriteIntercept* find_ept_write_intercept(uint64_t gpa);
void reset_ept_write_intercepts();  // tests

}  // namespace vmm
