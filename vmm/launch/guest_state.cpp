// Capturing this CPU's current state into the VMCS guest-state area (SDM Vol 3C 25.4), so
// the firmware continues as the guest exactly where it was.
#include "vmm/launch/guest_state.hpp"

#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "vmx/guest_segment_fields.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

constexpr uint32_t kUnusable = 1u << 16;  // SDM 25.4.1: segment "unusable" bit

struct Segment {
  uint16_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t access_rights;
};

// Base, limit and access rights of `selector` from the current GDT. LAR gives the access
// rights in the layout the VMCS wants (bits 23:8 of the descriptor's high dword), LSL the
// limit already scaled by G.
Segment read_segment(uint16_t selector, const arch::PseudoDescriptor& gdt) {
  Segment s{selector, 0, 0, kUnusable};
  if ((selector & ~3u) == 0 || (selector & 4)) return s;  // null or LDT-relative: unusable
  uint32_t ar = 0, limit = 0;
  uint8_t ok_ar = 0, ok_limit = 0;
  asm volatile("lar %w2, %0" : "=r"(ar), "=@ccz"(ok_ar) : "r"(static_cast<uint32_t>(selector)));
  asm volatile("lsl %w2, %0" : "=r"(limit), "=@ccz"(ok_limit) : "r"(static_cast<uint32_t>(selector)));
  if (!ok_ar) return s;
  const auto* desc = reinterpret_cast<const uint64_t*>(gdt.base + (selector & ~7u));
  uint64_t d = desc[0];
  s.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
  if (!((d >> 44) & 1)) s.base |= (desc[1] & 0xffffffff) << 32;  // system descriptor: 16 bytes
  s.access_rights = (ar >> 8) & 0xf0ff;
  s.limit = ok_limit ? limit : 0;
  return s;
}

#define APEX_READ_SEL(reg)                                  \
  [] {                                                      \
    uint16_t v;                                             \
    asm volatile("mov %%" #reg ", %0" : "=r"(v));           \
    return v;                                               \
  }()

}  // namespace

bool capture_guest_state(vmx::VmcsAccess& v) {
  arch::PseudoDescriptor gdt{}, idt{};
  asm volatile("sgdt %0" : "=m"(gdt));
  asm volatile("sidt %0" : "=m"(idt));
  uint16_t ldtr, tr;
  asm volatile("sldt %0" : "=r"(ldtr));
  asm volatile("str %0" : "=r"(tr));

  auto put = [&v](const vmx::GuestSegmentFields& f, const Segment& seg) {
    bool ok = v.write(f.selector, seg.selector);
    ok &= v.write(f.base, seg.base);
    ok &= v.write(f.limit, seg.limit);
    ok &= v.write(f.access_rights, seg.access_rights);
    return ok;
  };
  // Sreg order (ES CS SS DS FS GS), as vmx::kGuestSegments lists their fields.
  const uint16_t selectors[6] = {APEX_READ_SEL(es), APEX_READ_SEL(cs), APEX_READ_SEL(ss),
                                 APEX_READ_SEL(ds), APEX_READ_SEL(fs), APEX_READ_SEL(gs)};
  bool ok = true;
  for (unsigned i = 0; i < 6; ++i) ok &= put(vmx::kGuestSegments[i], read_segment(selectors[i], gdt));
  ok &= put(vmx::kGuestLdtr, read_segment(ldtr, gdt));
  Segment tr_seg = read_segment(tr, gdt);
  if (tr_seg.access_rights & kUnusable) {
    // Firmware often runs without a TSS (TR=0), but VM entry needs a usable busy 64-bit
    // TSS in TR (SDM 27.3.1.2). An empty one at 0 is never used: the guest has no
    // privilege changes through it until it loads its own TR.
    tr_seg = {0, 0, 0x67, 0x8b};
  }
  ok &= put(vmx::kGuestTr, tr_seg);
  // FS/GS bases live in MSRs in 64-bit mode; the descriptor's base is meaningless there.
  ok &= v.write(VmcsField::guest_fs_base, arch::rdmsr(arch::Msr::IA32_FS_BASE));
  ok &= v.write(VmcsField::guest_gs_base, arch::rdmsr(arch::Msr::IA32_GS_BASE));
  ok &= v.write(VmcsField::guest_gdtr_base, gdt.base);
  ok &= v.write(VmcsField::guest_gdtr_limit, gdt.limit);
  ok &= v.write(VmcsField::guest_idtr_base, idt.base);
  ok &= v.write(VmcsField::guest_idtr_limit, idt.limit);

  // CR0: launch.cpp writes it with the CR0 read shadow and mask (launch_cr0), as they belong together.
  ok &= v.write(VmcsField::guest_cr3, arch::read_cr3());
  ok &= v.write(VmcsField::guest_cr4, arch::read_cr4());
  ok &= v.write(VmcsField::guest_dr7, arch::read_dr7());
  ok &= v.write(VmcsField::guest_rflags, arch::read_rflags());
  ok &= v.write(VmcsField::guest_ia32_debugctl, arch::rdmsr(arch::Msr::IA32_DEBUGCTL));
  ok &= v.write(VmcsField::guest_ia32_sysenter_cs, arch::rdmsr(arch::Msr::IA32_SYSENTER_CS));
  ok &= v.write(VmcsField::guest_ia32_sysenter_esp, arch::rdmsr(arch::Msr::IA32_SYSENTER_ESP));
  ok &= v.write(VmcsField::guest_ia32_sysenter_eip, arch::rdmsr(arch::Msr::IA32_SYSENTER_EIP));
  ok &= v.write(VmcsField::guest_ia32_efer, arch::rdmsr(arch::Msr::IA32_EFER));
  ok &= v.write(VmcsField::guest_ia32_pat, arch::rdmsr(arch::Msr::IA32_PAT));
  ok &= v.write(VmcsField::vmcs_link_pointer, ~0ull);
  ok &= v.write(VmcsField::guest_activity_state, 0);
  ok &= v.write(VmcsField::guest_interruptibility_state, 0);
  ok &= v.write(VmcsField::guest_pending_debug_exceptions, 0);
  return ok;
}

}  // namespace vmm
