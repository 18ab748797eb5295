// APIC-register virtualization for a passed-through local APIC (config apic_virt=, issue P6).
//
// apexvisor passes the local APIC through: interrupts arrive at the real APIC and reach the
// guest without exits. With init_sipi=intercept it must still see the guest's APIC writes
// (the ICR, for INIT and STARTUP). Without help from the CPU that is an EPT write trap plus
// decoding the writing instruction (apic_page_intercept.hpp). Where the CPU offers "use TPR
// shadow", "virtualize APIC accesses" and "APIC-register virtualization" (SDM Vol 3C 30.4),
// it does the decoding itself: a guest write of an APIC register lands on this vCPU's
// virtual-APIC page and causes a trap-like APIC-write exit naming the register, and
// apexvisor carries it out on the real APIC (XapicPort). TPR writes are virtualized without
// an exit unless they lower the TPR below the TPR threshold.
//
// What that costs a pass-through, and how it is kept small:
// - Guest reads of most registers are answered from the virtual-APIC page, not the APIC.
//   The page mirrors the real APIC (xapic_registers.def says how, register by register):
//   software-written registers are read back after each write (so ESR, read after the
//   write that latches it, is exact), ISR/TMR/IRR are copied at every APIC exit of this CPU
//   (APIC-write, APIC-access, TPR below threshold; a read may be as old as the last one), and the registers the CPU does not virtualize
//   (PPR, the timer's current count, ...) cause an APIC-access exit and come from the APIC.
// - TPR: the threshold always equals the real TPR's class, so a write that lowers the TPR
//   exits and reaches the real APIC at once; a write that raises it through the APIC page
//   does not exit and reaches the real APIC at this CPU's next APIC exit. Until then the
//   real TPR is lower than the guest's: an interrupt the guest has just masked by priority
//   can still arrive, none it unmasked is held back. CR8 writes and reads always exit
//   (CR8-load/-store exiting) and use the real TPR (MSR 0x808 once the guest is in x2APIC
//   mode), so 64-bit guests that use CR8 (Windows' IRQL) see exact TPR semantics.
// - x2APIC mode is not virtualized ("virtualize x2APIC mode" stays 0): its MSRs reach the
//   real APIC, the ICR MSR through the MSR bitmap (x2apic_icr.hpp).
#pragma once
#include <stdint.h>

#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/xapic_port.hpp"
#include "vmm/apic/xapic_registers.hpp"
#include "vmm/exit_context.hpp"

namespace vmm::apic {

// The virtual-APIC page of one vCPU (SDM Vol 3C 30.1): the register layout of the xAPIC page.
struct alignas(4096) VirtualApicPage {
  uint32_t word[1024];
  uint32_t get(unsigned offset) const { return word[(offset & 0xffc) / 4]; }
  void set(unsigned offset, uint32_t v) { word[(offset & 0xffc) / 4] = v; }
};
static_assert(sizeof(VirtualApicPage) == 4096);

// Copies every register whose reads the CPU virtualizes from the real APIC (at launch, on
// that CPU, before the guest runs).
void mirror_all(VirtualApicPage& page, XapicRegisters& real);
// ISR, TMR and IRR: the registers the APIC changes on its own.
void mirror_hardware_owned(VirtualApicPage& page, XapicRegisters& real);
// The register at `offset` after a guest write reached the real APIC.
void mirror_after_write(VirtualApicPage& page, unsigned offset, XapicRegisters& real);
// TPR: the real TPR takes the virtual one if they differ; returns the TPR threshold to
// program (the TPR's class, VTPR[7:4]).
uint8_t sync_tpr(VirtualApicPage& page, XapicRegisters& real);

// The instruction behind an APIC-access exit (a read of a register the CPU does not
// virtualize, an unaligned or partial access): carried out against the real APIC by
// decoding it (image: apic_page_intercept.hpp; fakes in the tests).
class ApicAccessEmulator {
 public:
  virtual ExitAction emulate_apic_access(ExitContext& ctx, uint64_t gpa, bool write) = 0;

 protected:
  ~ApicAccessEmulator() = default;
};

// The exits APIC virtualization adds (vmm/handlers/apic_virtualization.cpp hands them
// here). One per machine; per-CPU state is the vCPU's virtual-APIC page.
class VirtualApic {
 public:
  void init(uint64_t apic_base, XapicRegisters* real, ApicTopology* topo, ApTargets* targets,
            ApicAccessEmulator* emulator);
  bool ready() const { return real_ != nullptr; }
  uint64_t page() const { return base_; }  // guest-physical address of the xAPIC page

  ExitAction apic_write(ExitContext& ctx, unsigned offset);  // exit 56, trap-like
  // A whole-register write that reaches the APIC page through the routed guest-memory view
  // (an instruction emulated for another exit: a REP STOS/MOVS from a watched page or from
  // hypervisor memory into the APIC page; vmm/apic/apic_page_intercept.cpp hands it here when
  // APIC virtualization is in use). It takes the path of a direct write: the value lands on
  // this vCPU's virtual-APIC page, as the CPU puts a guest's write there, and then the
  // APIC-write exit's handling runs (ICR high from the page before an ICR low, XapicPort,
  // the mirror, the TPR threshold). One path, so a destination written by a MOV and a command
  // written by a string operation (or the reverse) make the same IPI.
  ExitAction write_register(ExitContext& ctx, unsigned offset, uint32_t value);
  ExitAction apic_access(ExitContext& ctx, unsigned offset, bool write);  // exit 44, fault-like
  ExitAction tpr_below_threshold(ExitContext& ctx);  // exit 43, trap-like
  // MOV to/from CR8 (CR8-load/-store exiting): the real TPR, through MSR 0x808 when the
  // guest has switched its APIC to x2APIC mode (no xAPIC page then).
  ExitAction write_cr8(ExitContext& ctx, uint64_t value);
  uint64_t read_cr8(ExitContext& ctx);

 private:
  // After every APIC exit: ISR/TMR/IRR copied, the real TPR and the threshold brought up to
  // date. False when the threshold VMWRITE failed.
  bool finish(ExitContext& ctx, VirtualApicPage& page);
  // The write of register `reg`, whose value is on `page` already, carried out.
  ExitAction carry_out_write(ExitContext& ctx, VirtualApicPage& page, unsigned reg);

  uint64_t base_ = 0;
  XapicRegisters* real_ = nullptr;
  ApicTopology* topo_ = nullptr;
  ApTargets* targets_ = nullptr;
  ApicAccessEmulator* emulator_ = nullptr;
};

// The machine's VirtualApic, or null when apic_virt is not in use (set before launch).
void set_virtual_apic(VirtualApic* v);
VirtualApic* virtual_apic();

}  // namespace vmm::apic
