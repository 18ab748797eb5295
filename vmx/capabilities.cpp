#include "vmx/capabilities.hpp"

#include "arch/msr.hpp"

namespace vmx {

VmxCapabilities load_capabilities(MsrRead read, void* ctx, bool host_apx) {
  using arch::Msr;
  auto rd = [&](Msr m) { return read(ctx, static_cast<uint32_t>(m)); };
  VmxCapabilities c;
  c.host_apx = host_apx;
  // Always present when VMX is (SDM A.1, A.3-A.8).
  c.basic = rd(Msr::IA32_VMX_BASIC);
  c.pinbased_ctls = rd(Msr::IA32_VMX_PINBASED_CTLS);
  c.procbased_ctls = rd(Msr::IA32_VMX_PROCBASED_CTLS);
  c.exit_ctls = rd(Msr::IA32_VMX_EXIT_CTLS);
  c.entry_ctls = rd(Msr::IA32_VMX_ENTRY_CTLS);
  c.misc = rd(Msr::IA32_VMX_MISC);
  c.cr0_fixed0 = rd(Msr::IA32_VMX_CR0_FIXED0);
  c.cr0_fixed1 = rd(Msr::IA32_VMX_CR0_FIXED1);
  c.cr4_fixed0 = rd(Msr::IA32_VMX_CR4_FIXED0);
  c.cr4_fixed1 = rd(Msr::IA32_VMX_CR4_FIXED1);
  c.vmcs_enum = rd(Msr::IA32_VMX_VMCS_ENUM);
  // A.2: the TRUE_ MSRs exist only if IA32_VMX_BASIC[55] is 1.
  if (c.true_controls()) {
    c.true_pinbased_ctls = rd(Msr::IA32_VMX_TRUE_PINBASED_CTLS);
    c.true_procbased_ctls = rd(Msr::IA32_VMX_TRUE_PROCBASED_CTLS);
    c.true_exit_ctls = rd(Msr::IA32_VMX_TRUE_EXIT_CTLS);
    c.true_entry_ctls = rd(Msr::IA32_VMX_TRUE_ENTRY_CTLS);
  }
  // A.3.3: IA32_VMX_PROCBASED_CTLS2 exists only if bit 63 of IA32_VMX_PROCBASED_CTLS is 1.
  if (c.has_secondary_controls()) c.procbased_ctls2 = rd(Msr::IA32_VMX_PROCBASED_CTLS2);
  // A.3.4: IA32_VMX_PROCBASED_CTLS3 only if bit 49 of IA32_VMX_PROCBASED_CTLS is 1.
  if (c.has_tertiary_controls()) c.procbased_ctls3 = rd(Msr::IA32_VMX_PROCBASED_CTLS3);
  // A.4.2: IA32_VMX_EXIT_CTLS2 only if bit 63 of IA32_VMX_EXIT_CTLS is 1.
  if (c.has_secondary_exit_controls()) c.exit_ctls2 = rd(Msr::IA32_VMX_EXIT_CTLS2);
  // A.10: IA32_VMX_EPT_VPID_CAP only if "enable EPT" or "enable VPID" may be 1.
  if (c.has_ept() || c.has_vpid()) c.ept_vpid_cap = rd(Msr::IA32_VMX_EPT_VPID_CAP);
  // A.11: IA32_VMX_VMFUNC only if "enable VM functions" may be 1.
  if (c.has_vm_functions()) c.vmfunc = rd(Msr::IA32_VMX_VMFUNC);
  return c;
}

namespace {

constexpr FeatureInfo kFeatures[] = {
    {Feature::vmcs_write_back, true, "vmcs_write_back",
     "VMCS/VMXON regions must be write-back memory (IA32_VMX_BASIC[53:50] != 6, SDM A.1)"},
    {Feature::vmcs_fits_page, true, "vmcs_fits_page",
     "VMCS region larger than 4 KiB or zero (IA32_VMX_BASIC[44:32], SDM A.1)"},
    {Feature::host_64bit, true, "host_64bit",
     "VM-exit control \"host address-space size\" not allowed: no 64-bit host (SDM 25.7.1)"},
    {Feature::ia32e_mode_guest, true, "ia32e_mode_guest",
     "VM-entry control \"IA-32e mode guest\" not allowed: firmware cannot go on in long mode (SDM 25.8.1)"},
    {Feature::secondary_controls, true, "secondary_controls",
     "no secondary processor-based controls (IA32_VMX_PROCBASED_CTLS[63], SDM A.3.2)"},
    {Feature::msr_bitmaps, true, "msr_bitmaps",
     "processor-based control \"use MSR bitmaps\" not allowed (SDM 25.6.2)"},
    {Feature::ept, true, "ept", "secondary control \"enable EPT\" not allowed (SDM 25.6.2)"},
    {Feature::ept_4level, true, "ept_4level",
     "EPT page-walk length 4 not supported (IA32_VMX_EPT_VPID_CAP[6], SDM A.10)"},
    {Feature::ept_write_back, true, "ept_write_back",
     "EPT paging structures cannot be write-back (IA32_VMX_EPT_VPID_CAP[14], SDM A.10)"},
    {Feature::invept, true, "invept",
     "no INVEPT with single- or all-context type (IA32_VMX_EPT_VPID_CAP[20,25,26], SDM A.10)"},
    {Feature::unrestricted_guest, true, "unrestricted_guest",
     "secondary control \"unrestricted guest\" not allowed (SDM 25.6.2)"},
    {Feature::load_efer_on_entry, true, "load_efer_on_entry",
     "VM-entry control \"load IA32_EFER\" not allowed (SDM 25.8.1)"},
    {Feature::save_efer_on_exit, true, "save_efer_on_exit",
     "VM-exit control \"save IA32_EFER\" not allowed (SDM 25.7.1)"},
    {Feature::load_efer_on_exit, true, "load_efer_on_exit",
     "VM-exit control \"load IA32_EFER\" not allowed (SDM 25.7.1)"},
    {Feature::no_forced_exiting, true, "no_forced_exiting",
     "an exiting control apexvisor does not handle (e.g. CR3-load exiting) cannot be 0 (SDM A.3.2)"},
    {Feature::vpid, false, "vpid",
     "no VPID with single- or all-context INVVPID: TLBs are flushed on every VM entry/exit"},
    {Feature::wait_for_sipi, false, "wait_for_sipi",
     "activity state wait-for-SIPI not supported (IA32_VMX_MISC[8], SDM A.6): INIT/SIPI must be emulated"},
    {Feature::preemption_timer, false, "preemption_timer",
     "pin-based control \"activate VMX-preemption timer\" not allowed (SDM 25.6.1)"},
    {Feature::ept_2mb_pages, false, "ept_2mb_pages",
     "EPT 2-MiB pages not supported (IA32_VMX_EPT_VPID_CAP[16])"},
    {Feature::ept_1gb_pages, false, "ept_1gb_pages",
     "EPT 1-GiB pages not supported (IA32_VMX_EPT_VPID_CAP[17])"},
    {Feature::rdtscp, false, "rdtscp",
     "secondary control \"enable RDTSCP\" not allowed: RDTSCP raises #UD in the guest"},
    {Feature::invpcid, false, "invpcid",
     "secondary control \"enable INVPCID\" not allowed: INVPCID raises #UD in the guest"},
    {Feature::xsaves, false, "xsaves",
     "secondary control \"enable XSAVES/XRSTORS\" not allowed: XSAVES raises #UD in the guest"},
    {Feature::user_wait_pause, false, "user_wait_pause",
     "secondary control \"enable user wait and pause\" not allowed: UMWAIT/TPAUSE raise #UD in the guest"},
    {Feature::apx_exit_info, false, "apx_exit_info",
     "host does not enumerate APX (CPUID.(7,1):EDX[21]): legacy 4-bit exit information only"},
};
static_assert(sizeof(kFeatures) / sizeof(kFeatures[0]) == static_cast<size_t>(Feature::count),
              "one row per Feature");
constexpr bool rows_in_order() {
  for (size_t i = 0; i < static_cast<size_t>(Feature::count); ++i)
    if (static_cast<size_t>(kFeatures[i].feature) != i) return false;
  return true;
}
static_assert(rows_in_order(), "kFeatures rows must follow the Feature enum");

}  // namespace

bool has_feature(const VmxCapabilities& c, Feature f) {
  switch (f) {
    case Feature::vmcs_write_back: return c.vmcs_memory_type() == 6;
    case Feature::vmcs_fits_page: return c.vmcs_region_size() != 0 && c.vmcs_region_size() <= 4096;
    case Feature::host_64bit: return c.has_host_address_space_size();
    case Feature::ia32e_mode_guest: return c.has_ia32e_mode_guest();
    case Feature::secondary_controls: return c.has_secondary_controls();
    case Feature::msr_bitmaps: return c.has_msr_bitmaps();
    case Feature::ept: return c.has_ept();
    case Feature::ept_4level: return c.ept_4level_walk();
    case Feature::ept_write_back: return c.ept_wb();
    case Feature::invept: return c.has_invept() && (c.invept_single_context() || c.invept_all_context());
    case Feature::unrestricted_guest: return c.has_unrestricted_guest();
    case Feature::load_efer_on_entry: return c.can_load_efer_on_entry();
    case Feature::save_efer_on_exit: return c.can_save_efer_on_exit();
    case Feature::load_efer_on_exit: return c.can_load_efer_on_exit();
    case Feature::no_forced_exiting: return c.unhandled_exiting_optional();
    case Feature::vpid:
      return c.has_vpid() && c.has_invvpid() && (c.invvpid_single_context() || c.invvpid_all_context());
    case Feature::wait_for_sipi: return c.wait_for_sipi();
    case Feature::preemption_timer: return c.has_preemption_timer();
    case Feature::ept_2mb_pages: return c.ept_2mb_pages();
    case Feature::ept_1gb_pages: return c.ept_1gb_pages();
    case Feature::rdtscp: return c.has_rdtscp();
    case Feature::invpcid: return c.has_invpcid();
    case Feature::xsaves: return c.has_xsaves();
    case Feature::user_wait_pause: return c.has_user_wait_pause();
    case Feature::apx_exit_info: return c.host_apx;
    case Feature::count: break;
  }
  return false;
}

const FeatureInfo& feature_info(Feature f) {
  const size_t i = static_cast<size_t>(f);
  return kFeatures[i < static_cast<size_t>(Feature::count) ? i : 0];
}

CheckResult check_required(const VmxCapabilities& caps) {
  for (const FeatureInfo& row : kFeatures) {
    if (row.required && !has_feature(caps, row.feature)) return {false, row.feature, row.reason};
  }
  return {true, Feature::count, ""};
}

bool vmcs_field_supported(const VmxCapabilities& c, VmcsField f) {
  if (vmcs_field_index(f) > c.vmcs_max_index()) return false;
  using F = VmcsField;
  switch (f) {
    case F::virtual_processor_id: return c.has_vpid();
    case F::posted_interrupt_notification_vector:
    case F::posted_interrupt_descriptor_address: return c.has_posted_interrupts();
    case F::eptp_index:
    case F::virtualization_exception_info_address: return c.proc2_allowed(proc2::ept_violation_ve);
    case F::hlat_prefix_size:
    case F::hlat_pointer: return c.proc3_allowed(proc3::enable_hlat);
    case F::last_pid_pointer_index:
    case F::pid_pointer_table_address: return c.proc3_allowed(proc3::ipi_virtualization);
    case F::guest_interrupt_status:
    case F::eoi_exit_bitmap_0:
    case F::eoi_exit_bitmap_1:
    case F::eoi_exit_bitmap_2:
    case F::eoi_exit_bitmap_3: return c.has_virtual_interrupt_delivery();
    case F::guest_pml_index:
    case F::pml_address: return c.has_pml();
    case F::guest_uinv: return c.entry_allowed(entry_ctl::load_uinv) || c.exit_allowed(exit_ctl::clear_uinv);
    case F::executive_vmcs_pointer: return c.dual_monitor_smm();
    case F::tsc_multiplier: return c.has_tsc_scaling();
    case F::virtual_apic_address: return c.proc_allowed(proc::use_tpr_shadow);
    case F::apic_access_address: return c.proc2_allowed(proc2::virtualize_apic_accesses);
    case F::vm_function_controls: return c.has_vm_functions();
    case F::eptp_list_address: return c.vmfunc_eptp_switching();
    case F::ept_pointer:
    case F::guest_pdpte0:
    case F::guest_pdpte1:
    case F::guest_pdpte2:
    case F::guest_pdpte3: return c.has_ept();
    case F::vmread_bitmap_address:
    case F::vmwrite_bitmap_address: return c.has_vmcs_shadowing();
    case F::xss_exiting_bitmap: return c.has_xsaves();
    case F::encls_exiting_bitmap: return c.proc2_allowed(proc2::enable_encls_exiting);
    case F::enclv_exiting_bitmap: return c.proc2_allowed(proc2::enable_enclv_exiting);
    case F::sub_page_permission_table_pointer: return c.proc2_allowed(proc2::sub_page_write_permissions);
    case F::tertiary_processor_based_controls: return c.has_tertiary_controls();
    case F::low_pasid_directory_address:
    case F::high_pasid_directory_address: return c.proc2_allowed(proc2::pasid_translation);
    case F::pconfig_exiting_bitmap: return c.proc2_allowed(proc2::enable_pconfig);
    case F::secondary_vm_exit_controls: return c.has_secondary_exit_controls();
    case F::extended_instruction_info: return c.host_apx;
    case F::guest_ia32_pat:
    case F::host_ia32_pat:
      return c.entry_allowed(entry_ctl::load_ia32_pat) || c.exit_allowed(exit_ctl::save_ia32_pat) ||
             c.exit_allowed(exit_ctl::load_ia32_pat);
    case F::guest_ia32_efer:
    case F::host_ia32_efer:
      return c.can_load_efer_on_entry() || c.can_save_efer_on_exit() || c.can_load_efer_on_exit();
    case F::guest_ia32_perf_global_ctrl:
    case F::host_ia32_perf_global_ctrl:
      return c.entry_allowed(entry_ctl::load_ia32_perf_global_ctrl) ||
             c.exit_allowed(exit_ctl::load_ia32_perf_global_ctrl);
    case F::guest_ia32_bndcfgs:
      return c.entry_allowed(entry_ctl::load_ia32_bndcfgs) || c.exit_allowed(exit_ctl::clear_ia32_bndcfgs);
    case F::guest_ia32_rtit_ctl:
      return c.entry_allowed(entry_ctl::load_ia32_rtit_ctl) || c.exit_allowed(exit_ctl::clear_ia32_rtit_ctl);
    case F::guest_ia32_lbr_ctl:
      return c.entry_allowed(entry_ctl::load_guest_ia32_lbr_ctl) ||
             c.exit_allowed(exit_ctl::clear_ia32_lbr_ctl);
    case F::guest_ia32_pkrs:
    case F::host_ia32_pkrs:
      return c.entry_allowed(entry_ctl::load_pkrs) || c.exit_allowed(exit_ctl::load_pkrs);
    case F::ple_gap:
    case F::ple_window: return c.proc2_allowed(proc2::pause_loop_exiting);
    case F::instruction_timeout_control: return c.proc2_allowed(proc2::instruction_timeout);
    case F::vmx_preemption_timer_value: return c.has_preemption_timer();
    case F::guest_ia32_s_cet:
    case F::guest_ssp:
    case F::guest_ia32_interrupt_ssp_table_address:
    case F::host_ia32_s_cet:
    case F::host_ssp:
    case F::host_ia32_interrupt_ssp_table_address:
      return c.entry_allowed(entry_ctl::load_cet_state) || c.exit_allowed(exit_ctl::load_cet_state);
    default: return true;
  }
}

}  // namespace vmx
