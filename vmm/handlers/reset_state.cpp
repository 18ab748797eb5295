#include "vmm/handlers/reset_state.hpp"
#include "vmm/nmi_delivery.hpp"

#include "arch/cr_bits.hpp"
#include "arch/gpr.hpp"
#include "arch/msr.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmx/controls.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

// Real-mode segment access rights as the VMCS holds them (SDM Vol 3C 25.4.1): present, S=1,
// DPL 0. Code: type 11 (execute/read, accessed) = 0x9b; data: type 3 (read/write,
// accessed) = 0x93. An unrestricted guest may enter real mode with them (SDM 27.3.1.2).
// LDTR: present, type 2 (LDT) = 0x82; TR: present, type 11 (busy 32-bit TSS) = 0x8b — VM
// entry requires a usable TR of a busy type even in real mode (27.3.1.2).
constexpr uint32_t kArCode = 0x9b, kArData = 0x93, kArLdt = 0x82, kArTss = 0x8b;
constexpr uint32_t kRealModeLimit = 0xffff;

struct SegmentFields {
  VmcsField selector, base, limit, ar;
  uint32_t access_rights;
};

// The post-INIT state of Table 10-1 with the code segment and IP given: where the SIPI's
// vector points for an AP, the reset vector for the BSP.
bool load_post_init_state(ExitContext& ctx, uint16_t cs_selector, uint64_t cs_base, uint64_t rip) {
  if (!ctx.policy.unrestricted_guest) return false;
  vmx::VmcsAccess& v = ctx.vmcs;
  bool ok = true;

  // Other segments: selector 0, base 0, limit FFFF, present read/write data (Table 10-1).
  const SegmentFields segs[] = {
      {VmcsField::guest_cs_selector, VmcsField::guest_cs_base, VmcsField::guest_cs_limit,
       VmcsField::guest_cs_access_rights, kArCode},
      {VmcsField::guest_ss_selector, VmcsField::guest_ss_base, VmcsField::guest_ss_limit,
       VmcsField::guest_ss_access_rights, kArData},
      {VmcsField::guest_ds_selector, VmcsField::guest_ds_base, VmcsField::guest_ds_limit,
       VmcsField::guest_ds_access_rights, kArData},
      {VmcsField::guest_es_selector, VmcsField::guest_es_base, VmcsField::guest_es_limit,
       VmcsField::guest_es_access_rights, kArData},
      {VmcsField::guest_fs_selector, VmcsField::guest_fs_base, VmcsField::guest_fs_limit,
       VmcsField::guest_fs_access_rights, kArData},
      {VmcsField::guest_gs_selector, VmcsField::guest_gs_base, VmcsField::guest_gs_limit,
       VmcsField::guest_gs_access_rights, kArData},
      {VmcsField::guest_ldtr_selector, VmcsField::guest_ldtr_base, VmcsField::guest_ldtr_limit,
       VmcsField::guest_ldtr_access_rights, kArLdt},
      {VmcsField::guest_tr_selector, VmcsField::guest_tr_base, VmcsField::guest_tr_limit,
       VmcsField::guest_tr_access_rights, kArTss},
  };
  for (const SegmentFields& s : segs) {
    const bool cs = s.selector == VmcsField::guest_cs_selector;
    ok &= v.write(s.selector, cs ? cs_selector : 0);
    ok &= v.write(s.base, cs ? cs_base : 0);
    ok &= v.write(s.limit, kRealModeLimit);
    ok &= v.write(s.ar, s.access_rights);
  }
  // GDTR/IDTR: base 0, limit FFFF (Table 10-1).
  ok &= v.write(VmcsField::guest_gdtr_base, 0);
  ok &= v.write(VmcsField::guest_gdtr_limit, 0xffff);
  ok &= v.write(VmcsField::guest_idtr_base, 0);
  ok &= v.write(VmcsField::guest_idtr_limit, 0xffff);

  ok &= v.write(VmcsField::guest_rip, rip);
  ok &= v.write(VmcsField::guest_rsp, 0);
  ok &= v.write(VmcsField::guest_rflags, arch::rflags::FIXED1);  // 00000002H
  ok &= v.write(VmcsField::guest_dr7, kDr7AfterInit);

  // CR0 = 60000010H as the guest reads it; the real CR0 keeps what VMX fixes (CR0.NE on
  // most CPUs; PE/PG may be 0 under unrestricted guest, SDM Vol 3D A.7) and CD=NW=0: VM
  // entry cannot load those two, the guest reads them from the shadow (guest_view.hpp).
  // CR4 = 0 as the guest reads it; the real one keeps CR4.VMXE (A.8). CR3 = 0.
  ok &= v.write(VmcsField::cr0_read_shadow, kCr0AfterInit);
  ok &= v.write(VmcsField::guest_cr0, real_cr0_for(ctx.policy, kCr0AfterInit));
  ok &= v.write(VmcsField::cr4_read_shadow, 0);
  ok &= v.write(VmcsField::guest_cr4, real_cr4_for(ctx.policy, 0));
  ok &= v.write(VmcsField::guest_cr3, 0);

  // IA32_EFER = 0 (INIT leaves long mode), so the "IA-32e mode guest" entry control must be
  // 0 too: VM entry requires it to equal EFER.LMA (SDM Vol 3C 27.3.1.1).
  ok &= v.write(VmcsField::guest_ia32_efer, 0);
  ok &= v.write(VmcsField::vm_entry_controls,
                v.read(VmcsField::vm_entry_controls) & ~uint64_t{vmx::entry_ctl::ia32e_mode_guest});

  // Active, nothing blocked, no pending debug exception (SDM Vol 3C 25.4.2).
  ok &= v.write(VmcsField::guest_activity_state, 0);
  ok &= v.write(VmcsField::guest_interruptibility_state, 0);
  ok &= v.write(VmcsField::guest_pending_debug_exceptions, 0);
  // INIT discards whatever event was about to be delivered (an injection planned by this
  // exit's handler, or the re-injection of an interrupted delivery).
  ok &= v.write(VmcsField::vm_entry_interruption_info, 0);
  if (!ok) return false;

  // GPRs: all 32 zero except EDX, which holds the processor signature, CPUID.1:EAX
  // (Table 10-1, note 2). gpr[4] mirrors RSP (exit_entry.cpp writes it back).
  // R16..R31 included, as KVM does ("KVM: x86: Enable APX for guests" v4: kvm_vcpu_reset
  // clears its whole register array, which holds the EGPRs, on RESET and INIT), so a guest
  // restarted by INIT never finds the previous run's EGPR values. XCR0, and with it
  // vcpu.xstate, is unchanged by INIT (SDM Vol 3A Table 10-1 leaves XSAVE state alone).
  for (unsigned r = 0; r < arch::kGprCount; ++r) ctx.vcpu.regs.gpr[r] = 0;
  // CR2 = 0 after INIT (Table 10-1). VM entry does not load CR2: the exit path writes it
  // before the next entry, which also replaces a fault address an emulated #PF had armed.
  ctx.vcpu.cr2 = 0;
  ctx.vcpu.pending.set(pending::cr2);
  reg(ctx.vcpu, arch::Gpr::rdx) = ctx.host.cpuid(1, 0).eax;
  // INIT empties the TLBs (SDM Vol 3A 4.10.4.1, 10.1.1): with VPIDs the guest's old global
  // translations would otherwise outlive the restart. VPID 0 (none in use) is the host's.
  uint64_t vpid = 0;
  if (v.try_read(VmcsField::virtual_processor_id, &vpid) && vpid)
    ctx.host.flush_guest_tlb(static_cast<uint16_t>(vpid));
  ctx.vcpu.state = VcpuState::active;
  return true;
}

}  // namespace

bool load_sipi_state(ExitContext& ctx, uint8_t vector) {
  // The SIPI starts the CPU at 000VV000H in real mode: CS.selector = vector << 8,
  // CS.base = vector << 12, IP = 0 (SDM Vol 3A 11.6.1).
  if (!load_post_init_state(ctx, static_cast<uint16_t>(vector << 8), uint64_t{vector} << 12, 0)) return false;
  rearm_held_nmi(ctx.vcpu);  // an NMI that arrived in wait-for-SIPI is taken now (nmi_delivery.hpp)
  return true;
}

bool load_reset_vector_state(ExitContext& ctx) {
  // Table 10-1: CS selector F000, base FFFF0000, EIP FFF0: the first fetch is at FFFFFFF0H.
  return load_post_init_state(ctx, kResetCsSelector, kResetCsBase, kResetRip);
}

bool is_bootstrap_processor(ExitContext& ctx) {
  uint64_t apic_base = 0;
  return ctx.host.rdmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE), &apic_base) && (apic_base & kApicBaseBsp);
}

bool drop_pending_nmi(ExitContext& ctx) {
  ctx.vcpu.pending.clear(pending::nmi);
  ctx.vcpu.nmi_held = false;
  const uint64_t proc = ctx.vmcs.read(VmcsField::primary_processor_based_controls);
  if (!(proc & vmx::proc::nmi_window_exiting)) return true;
  return ctx.vmcs.write(VmcsField::primary_processor_based_controls, proc & ~uint64_t{vmx::proc::nmi_window_exiting});
}

}  // namespace vmm
