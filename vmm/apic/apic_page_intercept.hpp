// init_sipi=intercept on an xAPIC (issue P6), when the CPU's APIC-register virtualization
// is not used (apic_virt=off, or not offered): the local-APIC page is read-only in the EPT,
// so every guest write to it exits; the writing instruction is emulated — MOV m32 stores by
// the fast path (vmm/handlers/store32_at_rip.hpp), anything else by decode + emulate through
// the guest's paging (emulate_at_rip.hpp) — and the write itself goes to XapicPort: ICR
// writes that send INIT or STARTUP are emulated through the target CPUs' mailboxes, all
// other writes reach the real APIC unchanged. Reads never exit.
// With apic_virt the same emulation serves the APIC-access exits (virtual_apic.hpp).
//
// The intercept is also the device behind the APIC page in the routed guest-memory view
// (vmm/guest_memory/guest_phys_view.hpp, PageDevice): an instruction emulated for any exit
// (a REP STOS that starts on a watched page, a write into hypervisor memory that runs on)
// reaches the APIC through the same XapicPort, never the real ICR directly.
// Host-testable: the real APIC and the target CPUs come in through init().
#pragma once
#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/apic/xapic_registers.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"

namespace vmm::apic {

class ApicPageIntercept final : public EptWriteIntercept, public ApicAccessEmulator, public guest_memory::PageDevice {
 public:
  // `apic_base`: physical address of the xAPIC page (IA32_APIC_BASE, the same on every CPU
  // under OVMF and Linux). `real`: the xAPIC of the CPU that accesses it (image: MmioXapic at
  // that address, where each CPU reaches its own). `targets`: which CPUs are apexvisor's
  // guests, and their mailboxes (RegistryApTargets).
  void init(uint64_t apic_base, XapicRegisters* real, ApicTopology* topo, ApTargets* targets);
  uint64_t page() const { return base_; }

  // EptWriteIntercept
  bool covers(uint64_t gpa) override { return (gpa & ~0xfffull) == base_; }
  ExitAction on_write(ExitContext& ctx, uint64_t gpa) override { return emulate(ctx, gpa, Access::ept_write); }
  // An event delivery that pushes its frame onto the local-APIC page: no OS does this. The
  // page cannot be made writable (the frame's guest-chosen words would reach the real ICR,
  // around the INIT/SIPI intercept); the pushes are discarded through this CPU's sink page for
  // exactly the delivery, which completes (WriteMonitor::sink_apic_delivery says what other
  // CPUs see meanwhile). Out of line: apic_delivery_sink.cpp.
  ExitAction on_event_delivery(ExitContext& ctx, uint64_t gpa) override;

  // ApicAccessEmulator: the instruction at the guest's RIP that reads or writes `gpa` in the
  // APIC page, carried out against the real APIC.
  ExitAction emulate_apic_access(ExitContext& ctx, uint64_t gpa, bool write) override {
    return emulate(ctx, gpa, write ? Access::apic_access_write : Access::apic_access_read);
  }

  // PageDevice: the emulator's accesses to the page, for `ctx`'s CPU (the sender of an IPI).
  // APIC registers are 32 bits at 16-byte strides (SDM Vol 3A 11.4.1: an access that touches
  // bytes 4-15 of a slot is undefined): a read gives bytes 0-3 of each slot from the register
  // and zeros for bytes 4-15; a write of a whole register (4 bytes at a slot's start) goes to
  // XapicPort, any other write is dropped and logged. cmpxchg reads, compares and writes the
  // same way, atomic because the registers are this CPU's own.
  guest_memory::PhysStatus read(ExitContext& ctx, uint64_t gpa, void* dst, size_t bytes) override;
  guest_memory::PhysStatus write(ExitContext& ctx, uint64_t gpa, const void* src, size_t bytes) override;
  guest_memory::PhysStatus cmpxchg(ExitContext& ctx, uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                   uint64_t* observed) override;

 private:
  // Which exit: the MOV-store fast path serves EPT-violation writes, the MOV-load fast path
  // APIC-access reads; everything else takes the general decoder.
  enum class Access : uint8_t { ept_write, apic_access_read, apic_access_write };
  ExitAction emulate(ExitContext& ctx, uint64_t gpa, Access access);

  uint64_t base_ = ~0ull;
  XapicRegisters* real_ = nullptr;
  ApicTopology* topo_ = nullptr;
  ApTargets* targets_ = nullptr;
};

}  // namespace vmm::apic
