// init_sipi=intercept on an xAPIC (issue P6): the local-APIC page is read-only in the EPT,
// so every guest write to it exits; the writing instruction is emulated — MOV m32 stores by
// the fast path (vmm/handlers/store32_at_rip.hpp), anything else by decode + emulate through
// the guest's paging (emulate_at_rip.hpp) — and the write itself is routed here: ICR writes
// that send INIT or STARTUP are emulated through the target CPUs' mailboxes
// (ap_intercept.hpp), all other writes go to the real APIC unchanged. Reads never exit.
// Image only (MMIO).
#pragma once
#include "vmm/apic/ap_intercept.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/host_phys_memory.hpp"

namespace vmm::apic {

class ApicPageIntercept final : public EptWriteIntercept {
 public:
  // `apic_base`: physical address of the xAPIC page (IA32_APIC_BASE, the same on every CPU
  // under OVMF and Linux). `visible(gpa)`: guest RAM the emulator may touch.
  void init(uint64_t apic_base, ApicTopology* topo, bool (*visible)(uint64_t gpa));

  // EptWriteIntercept
  bool covers(uint64_t gpa) override { return (gpa & ~0xfffull) == base_; }
  ExitAction on_write(ExitContext& ctx, uint64_t gpa) override;

  uint64_t intercepted_ipis() const { return __atomic_load_n(&intercepted_, __ATOMIC_RELAXED); }

 private:
  // One exit's view: the page as the emulator sees it (MmioDevice), this CPU's real APIC
  // (LocalApic) and the other CPUs (ApTargets). Per exit, so CPUs never share state.
  class Session;

  uint64_t base_ = ~0ull;
  ApicTopology* topo_ = nullptr;
  bool (*visible_)(uint64_t) = nullptr;
  uint64_t intercepted_ = 0;
};

}  // namespace vmm::apic
