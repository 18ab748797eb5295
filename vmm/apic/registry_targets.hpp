// ApTargets over the vCPU registry: the one answer to "is that CPU a guest of apexvisor,
// and where is its mailbox", shared by the xAPIC-page and the x2APIC-MSR intercepts.
#pragma once
#include "vmm/apic/ap_intercept.hpp"
#include "vmm/vcpu_registry.hpp"

namespace vmm::apic {

class RegistryApTargets : public ApTargets {
 public:
  bool virtualized(unsigned cpu) override {
    Vcpu* v = vcpu_by_index(cpu);
    return v && v->virtualized;
  }
  ApMailbox* mailbox(unsigned cpu) override {
    Vcpu* v = vcpu_by_index(cpu);
    return v ? &v->mailbox : nullptr;
  }
};

}  // namespace vmm::apic
