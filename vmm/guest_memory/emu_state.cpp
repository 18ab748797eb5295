#include "vmm/guest_memory/emu_state.hpp"

#include "vmx/guest_segment_fields.hpp"

#include "arch/cr_bits.hpp"
#include "vmx/controls.hpp"

namespace vmm::guest_memory {

namespace emu = decode::emulate;
using vmx::VmcsField;

// One table per fact: the emulator's vector numbers are the hypervisor's.
static_assert(emu::vector::UD == vector::UD && emu::vector::SS == vector::SS && emu::vector::GP == vector::GP &&
                  emu::vector::PF == vector::PF && emu::vector::DB == vector::DB,
              "decode/emulate/emulate.hpp and vmm/exit_action.hpp disagree on exception vectors");

namespace {

constexpr uint32_t kArL = 1u << 13;  // access rights: 64-bit code segment (SDM Vol 3C Table 25-2)
constexpr uint32_t kArDb = 1u << 14;

bool ia32e_guest(vmx::VmcsAccess& vmcs) {
  return (vmcs.read(VmcsField::vm_entry_controls) & vmx::entry_ctl::ia32e_mode_guest) != 0;
}

// One segment register from the VMCS guest segment fields (vmx::kGuestSegments is in Sreg
// order, emu_context.hpp).
void read_segment(vmx::VmcsAccess& vmcs, emu::EmuContext& ctx, emu::Sreg s) {
  const vmx::GuestSegmentFields& f = vmx::kGuestSegments[static_cast<unsigned>(s)];
  emu::Segment& seg = ctx.seg[static_cast<unsigned>(s)];
  seg.base = vmcs.read(f.base);
  seg.limit = static_cast<uint32_t>(vmcs.read(f.limit));
  seg.access_rights = static_cast<uint32_t>(vmcs.read(f.access_rights));
}

}  // namespace

PagingState read_paging_state(vmx::VmcsAccess& vmcs, uint8_t maxphyaddr) {
  PagingState s;
  s.cr0 = vmcs.read(VmcsField::guest_cr0);
  s.cr3 = vmcs.read(VmcsField::guest_cr3);
  s.cr4 = vmcs.read(VmcsField::guest_cr4);
  s.efer = vmcs.read(VmcsField::guest_ia32_efer) & ~arch::efer::LMA;
  if (ia32e_guest(vmcs)) s.efer |= arch::efer::LMA;
  s.cpl = static_cast<uint8_t>((vmcs.read(VmcsField::guest_ss_access_rights) >> 5) & 3);
  s.rflags_ac = (vmcs.read(VmcsField::guest_rflags) & arch::rflags::AC) != 0;
  if (s.cr4 & arch::cr4::PKS) {
    uint64_t pkrs = 0;
    if (vmcs.try_read(VmcsField::guest_ia32_pkrs, &pkrs)) s.pkrs = static_cast<uint32_t>(pkrs);
  }
  s.maxphyaddr = maxphyaddr;
  if (paging_mode(s) == PagingMode::pae) {
    const VmcsField f[4] = {VmcsField::guest_pdpte0, VmcsField::guest_pdpte1, VmcsField::guest_pdpte2,
                            VmcsField::guest_pdpte3};
    s.pdptes_valid = true;
    for (unsigned i = 0; i < 4; ++i) s.pdptes_valid = s.pdptes_valid && vmcs.try_read(f[i], &s.pdpte[i]);
  }
  return s;
}

void read_code_context(vmx::VmcsAccess& vmcs, vmx::GprFile& regs, emu::LinearMemory& mem, emu::EmuContext& ctx) {
  ctx.gpr = regs.gpr;
  ctx.mem = &mem;
  ctx.rip = vmcs.read(VmcsField::guest_rip);
  ctx.rflags = vmcs.read(VmcsField::guest_rflags);
  regs.gpr[4] = vmcs.read(VmcsField::guest_rsp);
  const uint64_t cr0 = vmcs.read(VmcsField::guest_cr0);
  const uint64_t cr4 = vmcs.read(VmcsField::guest_cr4);
  read_segment(vmcs, ctx, emu::Sreg::cs);
  const uint32_t cs_ar = ctx.segment(emu::Sreg::cs).access_rights;
  if (ia32e_guest(vmcs) && (cs_ar & kArL))
    ctx.mode = decode::CpuMode::bits64;
  else
    ctx.mode = (cs_ar & kArDb) ? decode::CpuMode::bits32 : decode::CpuMode::bits16;
  ctx.real_or_v86 = !(cr0 & arch::cr0::PE) || (ctx.rflags & arch::rflags::VM);
  ctx.cpl = static_cast<uint8_t>((vmcs.read(VmcsField::guest_ss_access_rights) >> 5) & 3);
  ctx.cr0_am = (cr0 & arch::cr0::AM) != 0;
  ctx.la57 = (cr4 & arch::cr4::LA57) != 0;
}

void read_emu_context(vmx::VmcsAccess& vmcs, vmx::GprFile& regs, emu::LinearMemory& mem, emu::EmuContext& ctx) {
  read_code_context(vmcs, regs, mem, ctx);
  // The data segments, in Sreg order (ES CS SS DS FS GS; CS is read above).
  for (unsigned i = 0; i < emu::kSregCount; ++i)
    if (static_cast<emu::Sreg>(i) != emu::Sreg::cs) read_segment(vmcs, ctx, static_cast<emu::Sreg>(i));
}

bool write_back_emu_context(vmx::VmcsAccess& vmcs, const emu::EmuContext& ctx) {
  bool ok = vmcs.write(VmcsField::guest_rip, ctx.rip);
  ok = vmcs.write(VmcsField::guest_rflags, ctx.rflags) && ok;
  ok = vmcs.write(VmcsField::guest_rsp, ctx.gpr[4]) && ok;
  return ok;
}

Event to_event(const emu::Exception& e) {
  return Event{e.vector, EventType::hardware_exception, e.has_error_code, e.error_code};
}

}  // namespace vmm::guest_memory
