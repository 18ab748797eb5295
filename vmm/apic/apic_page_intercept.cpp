#include "vmm/apic/apic_page_intercept.hpp"

#include "arch/little_endian.hpp"
#include "vmm/apic/xapic_port.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/store32_at_rip.hpp"
#include "vmm/log/log.hpp"

namespace vmm::apic {

using guest_memory::PhysStatus;

void ApicPageIntercept::init(uint64_t apic_base, XapicRegisters* real, ApicTopology* topo, ApTargets* targets) {
  base_ = apic_base & ~0xfffull;
  real_ = real;
  topo_ = topo;
  targets_ = targets;
}

PhysStatus ApicPageIntercept::read(ExitContext&, uint64_t gpa, void* dst, size_t bytes) {
  auto* out = static_cast<uint8_t*>(dst);
  if (bytes == 4 && (gpa & 0xf) == 0) {  // a whole register, as the MOV-load fast path reads it
    arch::store_le(out, 4, real_->read(static_cast<unsigned>(gpa & 0xff0)));
    return PhysStatus::ok;
  }
  unsigned slot = ~0u;  // the 16-byte slot whose register `value` holds
  uint32_t value = 0;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned offset = static_cast<unsigned>((gpa + i) & 0xfff);
    if ((offset & 0xf) >= 4) {
      out[i] = 0;  // bytes 4-15 of a slot: never touched on the real APIC
      continue;
    }
    if ((offset & ~0xfu) != slot) {
      slot = offset & ~0xfu;
      value = real_->read(slot);
    }
    out[i] = static_cast<uint8_t>(value >> (8 * (offset & 3)));
  }
  return PhysStatus::ok;
}

PhysStatus ApicPageIntercept::write(ExitContext& ctx, uint64_t gpa, const void* src, size_t bytes) {
  const unsigned offset = static_cast<unsigned>(gpa & 0xfff);
  if ((offset & 0xf) || bytes != 4) {
    // Not a whole register: such writes have no defined effect on an APIC; drop them.
    APEX_LOG_GUEST(warn, "cpu%u: %zu-byte write at local APIC offset 0x%x ignored", ctx.vcpu.index, bytes, offset);
    return PhysStatus::ok;
  }
  const uint32_t value = static_cast<uint32_t>(arch::load_le(static_cast<const uint8_t*>(src), 4));
  // Under APIC virtualization the guest's direct writes go to its virtual-APIC page first
  // (an ICR high is only there): the emulated one takes the same path (VirtualApic::write_register).
  if (VirtualApic* v = virtual_apic(); v && v->ready() && ctx.vcpu.vapic) {
    (void)v->write_register(ctx, offset, value);
    return PhysStatus::ok;
  }
  XapicPort port(*real_, ctx.vcpu.index, *topo_, *targets_);
  (void)port.write_register(offset, value);
  return PhysStatus::ok;
}

PhysStatus ApicPageIntercept::cmpxchg(ExitContext& ctx, uint64_t gpa, unsigned bytes, uint64_t expected,
                                      uint64_t desired, uint64_t* observed) {
  uint8_t now[8] = {};
  if (bytes == 0 || bytes > 8) return PhysStatus::bad_gpa;
  (void)read(ctx, gpa, now, bytes);
  const uint64_t m = arch::low_bytes_mask(bytes);
  *observed = arch::load_le(now, bytes);
  if (*observed != (expected & m)) return PhysStatus::ok;
  uint8_t next[8];
  arch::store_le(next, bytes, desired);
  return write(ctx, gpa, next, bytes);
}

ExitAction ApicPageIntercept::emulate(ExitContext& ctx, uint64_t gpa, Access access) {
  // Through the routed view, which must route this page here: otherwise the emulated write
  // would reach the real APIC without XapicPort (boot/virtualize.cpp wires both).
  guest_memory::GuestPhysView* view = ctx.policy.guest_ram;
  if (!view || view->classify(gpa) != guest_memory::PageKind::apic || view->apic_device() != this)
    return ExitAction::stop("local APIC page: the guest-memory view does not route it to the APIC intercept");
  // The MOV m32 stores and loads every APIC driver uses, without the general decoder; all
  // paths go through the view to this device, so ICR, LDR and DFR handling stays in XapicPort.
  ExitAction fast = ExitAction::resume();
  if (access == Access::ept_write && store32_at_rip(ctx, *view, gpa, &fast)) return fast;
  if (access == Access::apic_access_read && load32_at_rip(ctx, *view, gpa, &fast)) return fast;
  bool unsupported = false, evex = false;
  unsigned length = 0;
  ExitAction a = emulate_at_rip(ctx, *view, nullptr, &unsupported, &length, &evex);
  if (!unsupported) return a;
  // EVEX (AVX-512, APX): #UD, as KVM answers an EVEX access it would have to emulate
  // (unemulated_evex_answer, vmm/handlers/emulate_at_rip.hpp).
  if (evex) {
    APEX_LOG_GUEST(warn, "cpu%u: an EVEX access to the local APIC page gets #UD, as under KVM (offset 0x%llx)",
                   ctx.vcpu.index, static_cast<unsigned long long>(gpa & 0xfff));
    return unemulated_evex_answer();
  }
  // Another access the emulator cannot do (an SSE/VEX store, FXSAVE, MOVDIR64B ...): APIC registers
  // are defined only for aligned 32-bit accesses (SDM Vol 3A 11.4.1), so the instruction is
  // skipped whole, the APIC untouched, and the CPU goes on.
  APEX_LOG_GUEST(warn, "cpu%u: an access to the local APIC page apexvisor cannot emulate was skipped (offset 0x%llx)",
                 ctx.vcpu.index, static_cast<unsigned long long>(gpa & 0xfff));
  return skip_unemulated(ctx, length);
}

}  // namespace vmm::apic
