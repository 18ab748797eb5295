// init_sipi=intercept on an xAPIC (issue P6), when the CPU's APIC-register virtualization
// is not used (apic_virt=off, or not offered): the local-APIC page is read-only in the EPT,
// so every guest write to it exits; the writing instruction is emulated — MOV m32 stores by
// the fast path (vmm/handlers/store32_at_rip.hpp), anything else by decode + emulate through
// the guest's paging (emulate_at_rip.hpp) — and the write itself goes to XapicPort: ICR
// writes that send INIT or STARTUP are emulated through the target CPUs' mailboxes, all
// other writes reach the real APIC unchanged. Reads never exit.
// With apic_virt the same emulation serves the APIC-access exits (virtual_apic.hpp).
// Image only (MMIO).
#pragma once
#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/host_phys_memory.hpp"

namespace vmm::apic {

class ApicPageIntercept final : public EptWriteIntercept, public ApicAccessEmulator {
 public:
  // `apic_base`: physical address of the xAPIC page (IA32_APIC_BASE, the same on every CPU
  // under OVMF and Linux). `visible(gpa)`: guest RAM the emulator may touch.
  void init(uint64_t apic_base, ApicTopology* topo, bool (*visible)(uint64_t gpa));

  // EptWriteIntercept
  bool covers(uint64_t gpa) override { return (gpa & ~0xfffull) == base_; }
  ExitAction on_write(ExitContext& ctx, uint64_t gpa) override { return emulate(ctx, gpa, Access::ept_write); }

  // ApicAccessEmulator: the instruction at the guest's RIP that reads or writes `gpa` in the
  // APIC page, carried out against the real APIC.
  ExitAction emulate_apic_access(ExitContext& ctx, uint64_t gpa, bool write) override {
    return emulate(ctx, gpa, write ? Access::apic_access_write : Access::apic_access_read);
  }

 private:
  // One exit's view of the page for the emulator (MmioDevice over this CPU's real APIC).
  class Session;
  // Which exit: the MOV-store fast path serves EPT-violation writes, the MOV-load fast path
  // APIC-access reads; everything else takes the general decoder.
  enum class Access : uint8_t { ept_write, apic_access_read, apic_access_write };
  ExitAction emulate(ExitContext& ctx, uint64_t gpa, Access access);

  uint64_t base_ = ~0ull;
  ApicTopology* topo_ = nullptr;
  bool (*visible_)(uint64_t) = nullptr;
};

}  // namespace vmm::apic
