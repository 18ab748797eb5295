// Exit reason 28, control-register access (SDM Vol 3C 26.1.3; exit qualification Table
// 28-3, decoded by vmx/exit_qualification). apexvisor owns the CR0/CR4 bits that VMX fixes
// (plus CR4.VMXE) through the guest/host masks (vmm/launch/launch.cpp), so a guest write
// that would change one of them exits here. The whole instruction is then emulated:
//   - the guest's value, after the checks MOV to CR0/CR4 makes (SDM Vol 2B "MOV—Move to/from
//     Control Registers", Vol 3A 2.5), goes into the read shadow, which is what the guest
//     reads back for owned bits;
//   - the real CR0/CR4 get the same value with every owned bit forced to what VMX operation
//     needs (Vol 3D A.7/A.8): the guest never runs with an invalid CR, VM entry never fails;
//   - CR4.VMXE=1 is refused with #GP(0): VMX is hidden from the guest (CPUID.1:ECX[5]=0),
//     and setting a CR4 bit of an absent feature is a reserved-bit #GP.
// CR3 exiting is never enabled, so its exits are unexpected and stop the guest. CR8 exits
// only with apic_virt (vmm/apic/virtual_apic.hpp), which answers it from the real TPR.
#include "arch/cr_bits.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/handlers/pae_pdptes.hpp"
#include "vmx/controls.hpp"
#include "vmx/exit_qualification.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;
namespace cr0 = arch::cr0;
namespace cr4 = arch::cr4;

// CR0 bits the architecture defines (Vol 3A 2.5). Loading the others of bits 31:0 is
// ignored; bits 63:32 must be 0. ET is fixed to 1 on every processor since the P6 family.
constexpr uint64_t kCr0Defined = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE | cr0::WP | cr0::AM |
                                 cr0::NW | cr0::CD | cr0::PG;

// "PAE paging would be in use after MOV to CR0/CR4 and the instruction modifies CR0.CD,
// CR0.NW, CR0.PG, CR4.PAE, CR4.PGE, CR4.PSE or CR4.SMEP": the CPU then loads the four PDPTEs
// from CR3, and a present one with a reserved bit set makes the instruction #GP(0) with
// nothing changed (SDM Vol 3A 4.4.1). With EPT, VM entry takes them from the VMCS (Vol 3C
// 27.3.2.4): vmm/handlers/pae_pdptes.hpp loads them there.
constexpr uint64_t kCr0PdpteBits = cr0::CD | cr0::NW | cr0::PG;
constexpr uint64_t kCr4PdpteBits = cr4::PAE | cr4::PGE | cr4::PSE | cr4::SMEP;
bool pae_paging(uint64_t cr0v, uint64_t cr4v, uint64_t efer) {
  return (cr0v & cr0::PG) && (cr4v & cr4::PAE) && !(efer & arch::efer::LMA);
}

// The PDPTE load of a MOV to CR0/CR4, as an action: `advance` means the write goes on.
ExitAction pdpte_action(ExitContext& ctx) {
  switch (load_pae_pdptes(ctx)) {
    case PdpteLoad::loaded: return ExitAction::advance();
    case PdpteLoad::gp: return ExitAction::gp0();
    case PdpteLoad::no_memory: return ExitAction::stop("MOV CR: PAE paging needs the PDPTEs, and no guest-memory view is set");
    case PdpteLoad::vmwrite_failed: break;
  }
  return ExitAction::stop("MOV CR: VMWRITE of the PDPTEs failed");
}

// Activating IA-32e mode #GPs "if ... either the current CS has the L-bit set or the TR
// references a 16-bit TSS" (SDM Vol 2B MOV CR, Protected Mode Exceptions). Access rights as
// the VMCS holds them (Vol 3C 25.4.1): bit 13 is L; bits 3:0 the type, 16-bit TSS 1 or 3.
constexpr uint64_t kArLong = 1ull << 13;
bool blocks_ia32e_activation(vmx::VmcsAccess& v) {
  const uint64_t tr_type = v.read(VmcsField::guest_tr_access_rights) & 0xf;
  return (v.read(VmcsField::guest_cs_access_rights) & kArLong) || tr_type == 1 || tr_type == 3;
}

// MOV to CR0, CLTS and LMSW all end here with the CR0 the guest asked for.
ExitAction write_cr0(ExitContext& ctx, uint64_t value) {
  vmx::VmcsAccess& v = ctx.vmcs;
  // SDM Vol 2B MOV CR, #GP(0) conditions, in the order the instruction lists them.
  if (value >> 32) return ExitAction::gp0();                                      // reserved 63:32
  value = (value & kCr0Defined) | cr0::ET;                                         // 31:0 reserved: ignored
  if ((value & cr0::PG) && !(value & cr0::PE)) return ExitAction::gp0();           // PG without PE
  if ((value & cr0::NW) && !(value & cr0::CD)) return ExitAction::gp0();           // NW without CD
  const uint64_t old = guest_visible_cr0(v);
  const uint64_t cr4v = guest_visible_cr4(v);
  uint64_t efer = v.read(VmcsField::guest_ia32_efer);
  uint64_t entry = v.read(VmcsField::vm_entry_controls);
  const bool pg_on = !(old & cr0::PG) && (value & cr0::PG);
  const bool pg_off = (old & cr0::PG) && !(value & cr0::PG);
  if (pg_off && guest_in_64bit_mode(v)) return ExitAction::gp0();                 // clear PG in 64-bit mode
  if (pg_off && (cr4v & cr4::PCIDE)) return ExitAction::gp0();                     // clear PG with PCIDE=1
  if (pg_on && (efer & arch::efer::LME) && !(cr4v & cr4::PAE)) return ExitAction::gp0();  // IA-32e without PAE
  if (pg_on && (efer & arch::efer::LME) && blocks_ia32e_activation(v)) return ExitAction::gp0();  // CS.L=1, 16-bit TSS
  if (!(value & cr0::WP) && (cr4v & cr4::CET)) return ExitAction::gp0();           // clear WP with CET=1
  // Without unrestricted guest, PE and PG are owned and must stay 1 (Vol 3D A.7): real mode
  // or unpaged protected mode cannot be run, only refused.
  if (!ctx.policy.unrestricted_guest && (value & (cr0::PE | cr0::PG)) != (cr0::PE | cr0::PG))
    return ExitAction::stop("MOV CR0: the guest leaves paged protected mode, which needs unrestricted guest");

  // IA-32e mode activation and deactivation (SDM Vol 3A 10.8.5, 10.8.5.4): setting PG with
  // EFER.LME=1 sets EFER.LMA, clearing PG clears it. The hardware would do this itself; here
  // the emulation must, and VM entry requires the "IA-32e mode guest" control to equal
  // EFER.LMA (Vol 3C 27.3.1.1).
  if (pg_on && (efer & arch::efer::LME)) {
    efer |= arch::efer::LMA;
    entry |= vmx::entry_ctl::ia32e_mode_guest;
  } else if (pg_off && (efer & arch::efer::LMA)) {
    efer &= ~arch::efer::LMA;
    entry &= ~uint64_t{vmx::entry_ctl::ia32e_mode_guest};
  }
  if (pae_paging(value, cr4v, efer) && ((old ^ value) & kCr0PdpteBits)) {
    const ExitAction pdptes = pdpte_action(ctx);
    if (pdptes.kind != ExitAction::Kind::advance_rip) return pdptes;
  }

  bool ok = v.write(VmcsField::cr0_read_shadow, value);
  ok &= v.write(VmcsField::guest_cr0, real_cr0_for(ctx.policy, value));
  ok &= v.write(VmcsField::guest_ia32_efer, efer);
  ok &= v.write(VmcsField::vm_entry_controls, entry);
  if (!ok) return ExitAction::stop("MOV CR0: VMWRITE failed");
  return ExitAction::advance();
}

// The CR4 bits a guest may not set: whatever the host's IA32_VMX_CR4_FIXED1 does not allow
// (it has a 0 for every CR4 bit this CPU lacks, Vol 3D A.8), bits 63:32 included, and VMXE
// (VMX is hidden: VMXE is a reserved bit to the guest). MOV to CR4 checks them before
// anything else (SDM Vol 2B MOV CR, #GP(0) "an attempt is made to write a 1 to any reserved
// bit in CR4"; it is the first of its checks that needs no state).
uint64_t cr4_reserved(const GuestPolicy& policy) { return ~policy.cr4_fixed1 | cr4::VMXE; }

// The reserved-bit #GP(0) of a MOV to CR4, decided from the exit qualification and the
// register alone, ahead of the full decode and the guest's mode (a guest probing for a CR4
// feature the CPU lacks does this): a reserved bit among 31:0 is #GP in every mode, since
// only bits 63:32 depend on the operand size (32 bits outside 64-bit mode). write_cr4 makes
// the same check first, with the mode's operand size, so the answer is the same.
bool mov_to_cr4_sets_reserved_low_bit(ExitContext& ctx, uint64_t qualification) {
  if (!vmx::is_mov_to_cr4(qualification)) return false;
  const uint64_t value = read_gpr(ctx, vmx::mov_cr_gpr(qualification, ctx.policy.exit_info_form));
  return value & cr4_reserved(ctx.policy) & 0xffffffffull;
}

ExitAction write_cr4(ExitContext& ctx, uint64_t value) {
  vmx::VmcsAccess& v = ctx.vmcs;
  if (value & cr4_reserved(ctx.policy)) return ExitAction::gp0();
  const uint64_t old = guest_visible_cr4(v);
  const uint64_t cr0v = guest_visible_cr0(v);
  const uint64_t efer = v.read(VmcsField::guest_ia32_efer);
  const bool lma = efer & arch::efer::LMA;
  // SDM Vol 2B MOV CR / Vol 3A 4.1.1, 4.10.1: the other #GP(0) conditions of MOV to CR4.
  if (lma && !(value & cr4::PAE)) return ExitAction::gp0();                          // leave IA-32e by PAE=0
  if (lma && ((old ^ value) & cr4::LA57)) return ExitAction::gp0();                  // LA57 fixed in IA-32e
  if (!(old & cr4::PCIDE) && (value & cr4::PCIDE)) {
    if (!lma) return ExitAction::gp0();                                              // PCIDE outside IA-32e
    if (v.read(VmcsField::guest_cr3) & 0xfff) return ExitAction::gp0();             // PCIDE with CR3[11:0]!=0
  }
  if ((value & cr4::CET) && !(cr0v & cr0::WP)) return ExitAction::gp0();            // CET with WP=0
  if (pae_paging(cr0v, value, efer) && ((old ^ value) & kCr4PdpteBits)) {
    const ExitAction pdptes = pdpte_action(ctx);
    if (pdptes.kind != ExitAction::Kind::advance_rip) return pdptes;
  }

  bool ok = v.write(VmcsField::cr4_read_shadow, value);
  ok &= v.write(VmcsField::guest_cr4, real_cr4_for(ctx.policy, value));
  if (!ok) return ExitAction::stop("MOV CR4: VMWRITE failed");
  return ExitAction::advance();
}

}  // namespace

ExitAction handle_control_register_access(ExitContext& ctx) {
  const uint64_t qualification = ctx.vmcs.read(VmcsField::exit_qualification);
  if (mov_to_cr4_sets_reserved_low_bit(ctx, qualification)) return ExitAction::gp0();
  const vmx::MovCrQualification q = vmx::decode_mov_cr(qualification, ctx.policy.exit_info_form);
  // Outside 64-bit mode the register operand is 32 bits (Vol 2B MOV CR: "operand size is
  // fixed at 32 bits" there; 64 bits in 64-bit mode).
  const uint64_t width_mask = guest_in_64bit_mode(ctx.vmcs) ? ~0ull : 0xffffffffull;
  switch (q.access) {
    case vmx::CrAccessType::mov_to_cr:
      if (q.cr == 0) return write_cr0(ctx, read_gpr(ctx, q.gpr) & width_mask);
      if (q.cr == 4) return write_cr4(ctx, read_gpr(ctx, q.gpr) & width_mask);
      // CR8 exits only with apic_virt, whose TPR shadow would otherwise keep it from the
      // real TPR (vmm/apic/virtual_apic.hpp).
      if (q.cr == 8 && apic::virtual_apic()) return apic::virtual_apic()->write_cr8(ctx, read_gpr(ctx, q.gpr));
      return ExitAction::stop("MOV to CR3/CR8 exited, but CR3/CR8-load exiting is not enabled");
    case vmx::CrAccessType::mov_from_cr: {
      // Reads of CR0/CR4 never exit (SDM 26.1.3): answer with the guest's view anyway.
      uint64_t value;
      if (q.cr == 0) value = guest_visible_cr0(ctx.vmcs) & width_mask;
      else if (q.cr == 4) value = guest_visible_cr4(ctx.vmcs) & width_mask;
      else if (q.cr == 8 && apic::virtual_apic()) value = apic::virtual_apic()->read_cr8(ctx);
      else return ExitAction::stop("MOV from CR3/CR8 exited, but CR3/CR8-store exiting is not enabled");
      if (!write_gpr(ctx, q.gpr, value)) return ExitAction::stop("MOV from CR: VMWRITE of RSP failed");
      return ExitAction::advance();
    }
    case vmx::CrAccessType::clts:
      // CLTS clears CR0.TS (Vol 2A CLTS).
      return write_cr0(ctx, guest_visible_cr0(ctx.vmcs) & ~cr0::TS);
    case vmx::CrAccessType::lmsw: {
      // LMSW loads CR0 bits 3:0 (PE, MP, EM, TS) from the source; it can set PE but never
      // clear it (Vol 2A LMSW). The source is in the qualification for both operand kinds.
      const uint64_t old = guest_visible_cr0(ctx.vmcs);
      return write_cr0(ctx, (old & ~0xfull) | (q.lmsw_source & 0xf) | (old & cr0::PE));
    }
  }
  return ExitAction::stop("control-register access: unknown access type");
}

}  // namespace vmm
