#include "vmm/apic/virtual_apic.hpp"

#include "arch/msr.hpp"
#include "vmm/log/log.hpp"
#include "vmx/vmcs_field.hpp"

namespace vmm::apic {
namespace {

using xapic::Mirror;

VirtualApic* g_virtual_apic = nullptr;

bool in_x2apic_mode(ExitContext& ctx) {
  uint64_t base = 0;
  return ctx.host.rdmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE), &base) && (base & (1ull << 10));
}

void copy_register(VirtualApicPage& page, const xapic::Register& r, XapicRegisters& real) {
  for (unsigned i = 0; i < r.count; ++i) page.set(r.offset + 16 * i, real.read(r.offset + 16 * i));
}

constexpr bool hardware_owned_are_isr_to_irr() {
  for (const xapic::Register& r : xapic::kRegisters)
    if ((r.mirror == Mirror::hardware) != (r.offset >= xapic::isr && r.offset < xapic::irr + 8 * 16)) return false;
  return xapic::tmr == xapic::isr + 8 * 16 && xapic::irr == xapic::tmr + 8 * 16;
}

}  // namespace

void mirror_all(VirtualApicPage& page, XapicRegisters& real) {
  for (const xapic::Register& r : xapic::kRegisters) {
    switch (r.mirror) {
      case Mirror::software:
      case Mirror::hardware:
      case Mirror::tpr:
        copy_register(page, r, real);
        break;
      case Mirror::icr_low:
        page.set(r.offset, real.read(r.offset) & ~xapic::kIcrDeliveryPending);
        break;
      case Mirror::write_only:
        page.set(r.offset, 0);
        break;
      case Mirror::exits:
        break;  // never read from the page
    }
  }
}

// mirror_hardware_owned copies ISR, TMR and IRR in one straight loop, since it runs after
// every APIC exit: they must be the 24 consecutive registers of the table's `hardware` rows.
static_assert(hardware_owned_are_isr_to_irr());
void mirror_hardware_owned(VirtualApicPage& page, XapicRegisters& real) {
  real.copy_registers(xapic::isr, 3 * 8, &page.word[xapic::isr / 4]);
}

void mirror_after_write(VirtualApicPage& page, unsigned offset, XapicRegisters& real) {
  const xapic::Register* r = xapic::register_at(offset);
  if (!r) return;
  const unsigned reg = offset & 0xff0;
  switch (r->mirror) {
    case Mirror::software:
    case Mirror::tpr:
      page.set(reg, real.read(reg));  // the real register keeps only its writable bits
      break;
    case Mirror::icr_low:
      // The guest's command as written; apexvisor has sent it (or emulated INIT/STARTUP).
      page.set(reg, page.get(reg) & ~xapic::kIcrDeliveryPending);
      break;
    case Mirror::write_only:
      page.set(reg, 0);
      break;
    case Mirror::hardware:
    case Mirror::exits:
      break;
  }
}

uint8_t sync_tpr(VirtualApicPage& page, XapicRegisters& real) {
  const uint32_t vtpr = page.get(xapic::tpr) & 0xff;
  if ((real.read(xapic::tpr) & 0xff) != vtpr) real.write(xapic::tpr, vtpr);
  return static_cast<uint8_t>(vtpr >> 4);
}

void VirtualApic::init(uint64_t apic_base, XapicRegisters* real, ApicTopology* topo, ApTargets* targets,
                       ApicAccessEmulator* emulator) {
  base_ = apic_base & ~0xfffull;
  real_ = real;
  topo_ = topo;
  targets_ = targets;
  emulator_ = emulator;
}

bool VirtualApic::finish(ExitContext& ctx, VirtualApicPage& page) {
  mirror_hardware_owned(page, *real_);
  return ctx.vmcs.write(vmx::VmcsField::tpr_threshold, sync_tpr(page, *real_));
}

ExitAction VirtualApic::apic_write(ExitContext& ctx, unsigned offset) {
  VirtualApicPage* page = ctx.vcpu.vapic;
  if (!page || !real_) return ExitAction::stop("APIC-write exit, but this CPU has no virtual-APIC page");
  return carry_out_write(ctx, *page, offset & 0xff0);  // the CPU has put the value on the page
}

ExitAction VirtualApic::write_register(ExitContext& ctx, unsigned offset, uint32_t value) {
  VirtualApicPage* page = ctx.vcpu.vapic;
  if (!page || !real_) return ExitAction::stop("APIC write through the emulator, but this CPU has no virtual-APIC page");
  const unsigned reg = offset & 0xff0;
  // Onto the page as the CPU would put it (registers it mirrors; ISR/TMR/IRR and the ones
  // whose reads exit are never taken from the page: their writes go to the APIC only).
  const xapic::Register* r = xapic::register_at(reg);
  if (r && r->mirror != Mirror::hardware && r->mirror != Mirror::exits) page->set(reg, value);
  if (!r || r->mirror == Mirror::hardware || r->mirror == Mirror::exits) {
    XapicPort port(*real_, ctx.vcpu.index, *topo_, *targets_);
    (void)port.write_register(reg, value);
    if (!finish(ctx, *page)) return ExitAction::stop("APIC write: VMWRITE of the TPR threshold failed");
    return ExitAction::resume();
  }
  return carry_out_write(ctx, *page, reg);
}

ExitAction VirtualApic::carry_out_write(ExitContext& ctx, VirtualApicPage& page_ref, unsigned reg) {
  VirtualApicPage* page = &page_ref;
  // TPR writes are TPR virtualization, not APIC-write exits (SDM Vol 3C 30.4.3.2); should a
  // CPU send one anyway, finish() synchronises the TPR as after any APIC exit.
  if (reg != xapic::tpr) {
    if (reg == xapic::icr_low) {
      // ICR high writes do not exit (SDM Vol 3C 30.4.3.2: the CPU only clears VICR_HI's low
      // bytes), so the destination is taken from the page now.
      real_->write(xapic::icr_high, page->get(xapic::icr_high));
    }
    XapicPort port(*real_, ctx.vcpu.index, *topo_, *targets_);
    (void)port.write_register(reg, page->get(reg));
    mirror_after_write(*page, reg, *real_);
  }
  if (!finish(ctx, *page)) return ExitAction::stop("APIC-write exit: VMWRITE of the TPR threshold failed");
  return ExitAction::resume();  // trap-like: RIP is already past the instruction
}

ExitAction VirtualApic::apic_access(ExitContext& ctx, unsigned offset, bool write) {
  VirtualApicPage* page = ctx.vcpu.vapic;
  if (!page || !real_ || !emulator_) return ExitAction::stop("APIC-access exit, but this CPU has no virtual-APIC page");
  // A write may reach the ICR low, which sends with the ICR high: that lives on the page
  // (ICR high writes do not exit), so the real one takes it first.
  if (write) real_->write(xapic::icr_high, page->get(xapic::icr_high));
  ExitAction a = emulator_->emulate_apic_access(ctx, base_ + offset, write);
  if (write) mirror_after_write(*page, offset, *real_);
  if (!finish(ctx, *page)) return ExitAction::stop("APIC-access exit: VMWRITE of the TPR threshold failed");
  return a;
}

ExitAction VirtualApic::tpr_below_threshold(ExitContext& ctx) {
  VirtualApicPage* page = ctx.vcpu.vapic;
  if (!page || !real_) return ExitAction::stop("TPR-below-threshold exit, but this CPU has no virtual-APIC page");
  if (!finish(ctx, *page)) return ExitAction::stop("TPR-below-threshold exit: VMWRITE of the TPR threshold failed");
  return ExitAction::resume();
}

ExitAction VirtualApic::write_cr8(ExitContext& ctx, uint64_t value) {
  VirtualApicPage* page = ctx.vcpu.vapic;
  if (!page || !real_) return ExitAction::stop("MOV to CR8 exited, but this CPU has no virtual-APIC page");
  if (value & ~0xfull) return ExitAction::gp0();  // CR8 bits 63:4 are reserved (SDM Vol 3A 2.5)
  // CR8 is TPR[7:4]; a MOV to CR8 clears TPR[3:0] (SDM Vol 3A 11.8.6).
  page->set(xapic::tpr, static_cast<uint32_t>(value << 4));
  if (in_x2apic_mode(ctx)) {
    if (!ctx.host.wrmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_X2APIC_TPR), value << 4))
      return ExitAction::stop("MOV to CR8: WRMSR of the x2APIC TPR failed");
    if (!ctx.vmcs.write(vmx::VmcsField::tpr_threshold, value))
      return ExitAction::stop("MOV to CR8: VMWRITE of the TPR threshold failed");
    return ExitAction::advance();
  }
  // Only the TPR changed: the real TPR and the threshold follow it. ISR, TMR and IRR are
  // copied at APIC exits (finish()); a CR-access exit is not one, and the TPR does not
  // change them.
  if (!ctx.vmcs.write(vmx::VmcsField::tpr_threshold, sync_tpr(*page, *real_)))
    return ExitAction::stop("MOV to CR8: VMWRITE of the TPR threshold failed");
  return ExitAction::advance();
}

uint64_t VirtualApic::read_cr8(ExitContext& ctx) {
  if (!real_) return 0;
  if (in_x2apic_mode(ctx)) {
    uint64_t tpr = 0;
    (void)ctx.host.rdmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_X2APIC_TPR), &tpr);
    return (tpr >> 4) & 0xf;
  }
  // A TPR raised through the page has not reached the real APIC yet if no APIC exit came
  // since: bring it there first, so CR8 reads what the guest last wrote.
  if (VirtualApicPage* page = ctx.vcpu.vapic) (void)ctx.vmcs.write(vmx::VmcsField::tpr_threshold, sync_tpr(*page, *real_));
  return (real_->read(xapic::tpr) >> 4) & 0xf;
}

void set_virtual_apic(VirtualApic* v) { g_virtual_apic = v; }
VirtualApic* virtual_apic() { return g_virtual_apic; }

}  // namespace vmm::apic
