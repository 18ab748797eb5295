// A guest's write of one xAPIC register, carried out on this CPU's real APIC (issue P6):
// ICR writes that send INIT or STARTUP are emulated through the targets' mailboxes
// (ap_intercept.hpp), LDR and DFR writes are also noted in the topology (logical
// destinations), everything else reaches the real register unchanged. Both ways a guest
// APIC write can exit use it: the EPT write trap (apic_page_intercept.hpp) and the
// APIC-write exit of APIC-register virtualization (virtual_apic.hpp).
#pragma once
#include <stdint.h>

#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/xapic_registers.hpp"

namespace vmm::apic {

class XapicPort final : public LocalApic {
 public:
  XapicPort(XapicRegisters& regs, unsigned sender, ApicTopology& topo, ApTargets& targets)
      : regs_(regs), sender_(sender), topo_(topo), targets_(targets) {}

  // The guest wrote `value` to the register at `offset` (16-byte aligned, whole 32 bits).
  // For an ICR low write, what became of the IPI (all zero for other registers).
  InterceptOutcome write_register(unsigned offset, uint32_t value);

  // LocalApic: IPIs of apexvisor's own (wake-up NMIs, INIT/STARTUP passed on to CPUs it
  // does not run) restore the guest's ICR high afterwards, so the guest never sees ours.
  void send_nmi(uint32_t apic_id) override;
  void send_raw(uint64_t icr_value) override;
  void send_to(const Icr& icr, uint32_t apic_id) override;

 private:
  void send(uint32_t high, uint32_t low);

  XapicRegisters& regs_;
  unsigned sender_;
  ApicTopology& topo_;
  ApTargets& targets_;
};

}  // namespace vmm::apic
