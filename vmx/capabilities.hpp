// VMX capability reporting (SDM Vol. 3D Appendix A "VMX Capability Reporting Facility"):
// the raw IA32_VMX_* MSR values of one logical processor, predicates over them, the
// control-adjustment rule, and the check that this CPU offers what apexvisor needs.
// Read them on every CPU: hybrid parts differ per core type (design.md pitfalls).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmx/controls.hpp"
#include "vmx/vmcs_field.hpp"

namespace vmx {

// ---- control adjustment (SDM A.3-A.5) -------------------------------------------------
// A 32-bit control MSR reports the allowed 0-settings in bits 31:0 (bit X set: control X
// must be 1) and the allowed 1-settings in bits 63:32 (bit 32+X clear: control X must be 0).
constexpr uint32_t allowed0(uint64_t msr) { return static_cast<uint32_t>(msr); }
constexpr uint32_t allowed1(uint64_t msr) { return static_cast<uint32_t>(msr >> 32); }
// The value closest to `desired` that the CPU accepts: forced-1 bits set, forbidden bits clear.
constexpr uint32_t adjust_controls(uint32_t desired, uint64_t msr) {
  return (desired | allowed0(msr)) & allowed1(msr);
}
// Desired bits the CPU does not allow (they were dropped by adjust_controls).
constexpr uint32_t unsupported_controls(uint32_t desired, uint64_t msr) { return desired & ~allowed1(msr); }
constexpr bool controls_valid(uint32_t value, uint64_t msr) { return adjust_controls(value, msr) == value; }
// The 64-bit controls (tertiary processor-based, secondary VM-exit) only have allowed
// 1-settings: every bit of the MSR set means "may be 1" (SDM A.3.4, A.4.2).
constexpr uint64_t adjust_controls64(uint64_t desired, uint64_t allowed1_msr) {
  return desired & allowed1_msr;
}

struct VmxCapabilities {
  // Raw MSR values; an MSR the CPU does not have (see load_capabilities) reads as 0, which
  // makes every control it would govern "not allowed".
  uint64_t basic = 0;
  uint64_t pinbased_ctls = 0, procbased_ctls = 0, exit_ctls = 0, entry_ctls = 0;
  uint64_t true_pinbased_ctls = 0, true_procbased_ctls = 0, true_exit_ctls = 0, true_entry_ctls = 0;
  uint64_t procbased_ctls2 = 0;
  uint64_t procbased_ctls3 = 0;
  uint64_t exit_ctls2 = 0;
  uint64_t ept_vpid_cap = 0;
  uint64_t misc = 0;
  uint64_t cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0;
  uint64_t vmcs_enum = 0;
  uint64_t vmfunc = 0;
  // Not an MSR: CPUID.(EAX=7,ECX=1):EDX[21] of the host. It alone guarantees the extended
  // instruction-information field 0x2406 and 5-bit MOV CR register numbers (shared/apx/
  // spec.md §4.1, KVM APX series v2 07/16); the caller fills it from CPUID.
  bool host_apx = false;

  // ---- IA32_VMX_BASIC (SDM A.1) ----
  constexpr uint32_t vmcs_revision_id() const { return static_cast<uint32_t>(basic) & 0x7fffffff; }
  constexpr uint32_t vmcs_region_size() const { return static_cast<uint32_t>(basic >> 32) & 0x1fff; }
  constexpr bool physical_address_32bit_limit() const { return basic & (1ull << 48); }
  constexpr bool dual_monitor_smm() const { return basic & (1ull << 49); }
  constexpr unsigned vmcs_memory_type() const { return (basic >> 50) & 0xf; }
  constexpr bool ins_outs_instruction_info() const { return basic & (1ull << 54); }
  // Bit 55: the TRUE_ control MSRs exist and are the ones to use (SDM A.2).
  constexpr bool true_controls() const { return basic & (1ull << 55); }
  constexpr bool entry_error_code_any_vector() const { return basic & (1ull << 56); }

  // ---- the control MSR to adjust against: TRUE_ variant when BASIC[55] (SDM A.2) ----
  constexpr uint64_t pinbased_msr() const { return true_controls() ? true_pinbased_ctls : pinbased_ctls; }
  constexpr uint64_t procbased_msr() const { return true_controls() ? true_procbased_ctls : procbased_ctls; }
  constexpr uint64_t exit_msr() const { return true_controls() ? true_exit_ctls : exit_ctls; }
  constexpr uint64_t entry_msr() const { return true_controls() ? true_entry_ctls : entry_ctls; }

  constexpr uint32_t adjust_pinbased(uint32_t desired) const {
    return adjust_controls(desired, pinbased_msr());
  }
  constexpr uint32_t adjust_procbased(uint32_t desired) const {
    return adjust_controls(desired, procbased_msr());
  }
  // Secondary controls are all "default 0": IA32_VMX_PROCBASED_CTLS2 has no TRUE_ twin (A.3.3).
  constexpr uint32_t adjust_procbased2(uint32_t desired) const {
    return has_secondary_controls() ? adjust_controls(desired, procbased_ctls2) : 0;
  }
  constexpr uint64_t adjust_procbased3(uint64_t desired) const {
    return has_tertiary_controls() ? adjust_controls64(desired, procbased_ctls3) : 0;
  }
  constexpr uint32_t adjust_exit(uint32_t desired) const { return adjust_controls(desired, exit_msr()); }
  constexpr uint64_t adjust_exit2(uint64_t desired) const {
    return has_secondary_exit_controls() ? adjust_controls64(desired, exit_ctls2) : 0;
  }
  constexpr uint32_t adjust_entry(uint32_t desired) const { return adjust_controls(desired, entry_msr()); }

  // ---- single controls: may this control be 1? ----
  constexpr bool pin_allowed(uint32_t bit) const { return allowed1(pinbased_msr()) & bit; }
  constexpr bool proc_allowed(uint32_t bit) const { return allowed1(procbased_msr()) & bit; }
  constexpr bool proc2_allowed(uint32_t bit) const {
    return has_secondary_controls() && (allowed1(procbased_ctls2) & bit);
  }
  constexpr bool proc3_allowed(uint64_t bit) const {
    return has_tertiary_controls() && (procbased_ctls3 & bit);
  }
  constexpr bool exit_allowed(uint32_t bit) const { return allowed1(exit_msr()) & bit; }
  constexpr bool entry_allowed(uint32_t bit) const { return allowed1(entry_msr()) & bit; }

  // The secondary/tertiary/secondary-exit MSRs exist only when the primary control that
  // activates them may be 1 (SDM A.3.2-A.3.4, A.4.1). The non-TRUE MSR has the same
  // allowed 1-settings, so either one answers.
  constexpr bool has_secondary_controls() const {
    return allowed1(procbased_ctls) & proc::activate_secondary_controls;
  }
  constexpr bool has_tertiary_controls() const {
    return allowed1(procbased_ctls) & proc::activate_tertiary_controls;
  }
  constexpr bool has_secondary_exit_controls() const {
    return allowed1(exit_ctls) & exit_ctl::activate_secondary_controls;
  }

  // ---- features ----
  constexpr bool has_ept() const { return proc2_allowed(proc2::enable_ept); }
  constexpr bool has_vpid() const { return proc2_allowed(proc2::enable_vpid); }
  constexpr bool has_unrestricted_guest() const { return proc2_allowed(proc2::unrestricted_guest); }
  constexpr bool has_msr_bitmaps() const { return proc_allowed(proc::use_msr_bitmaps); }
  // Every exiting control apexvisor has no handler for may be 0: the allowed 0-settings (the
  // MSR's low half, SDM A.3.2) force none of them on. (A CPU without the TRUE controls forces
  // CR3-load/store exiting, default1 bits 15/16.) Checked so that no exit a guest can cause
  // goes unanswered (vmm/exit_audit.def).
  static constexpr uint32_t kUnhandledProcExiting =
      proc::hlt_exiting | proc::invlpg_exiting | proc::mwait_exiting | proc::rdpmc_exiting | proc::rdtsc_exiting |
      proc::cr3_load_exiting | proc::cr3_store_exiting | proc::cr8_load_exiting | proc::cr8_store_exiting |
      proc::mov_dr_exiting | proc::unconditional_io_exiting | proc::monitor_exiting | proc::pause_exiting;
  constexpr bool unhandled_exiting_optional() const {
    return (static_cast<uint32_t>(procbased_msr()) & kUnhandledProcExiting) == 0;
  }
  constexpr bool has_io_bitmaps() const { return proc_allowed(proc::use_io_bitmaps); }
  constexpr bool has_rdtscp() const { return proc2_allowed(proc2::enable_rdtscp); }
  constexpr bool has_invpcid() const { return proc2_allowed(proc2::enable_invpcid); }
  constexpr bool has_xsaves() const { return proc2_allowed(proc2::enable_xsaves_xrstors); }
  constexpr bool has_user_wait_pause() const { return proc2_allowed(proc2::enable_user_wait_pause); }
  constexpr bool has_pml() const { return proc2_allowed(proc2::enable_pml); }
  constexpr bool has_vm_functions() const { return proc2_allowed(proc2::enable_vm_functions); }
  constexpr bool has_vmcs_shadowing() const { return proc2_allowed(proc2::vmcs_shadowing); }
  constexpr bool has_tsc_scaling() const { return proc2_allowed(proc2::use_tsc_scaling); }
  constexpr bool has_descriptor_table_exiting() const {
    return proc2_allowed(proc2::descriptor_table_exiting);
  }
  constexpr bool has_virtual_interrupt_delivery() const {
    return proc2_allowed(proc2::virtual_interrupt_delivery);
  }
  constexpr bool has_posted_interrupts() const { return pin_allowed(pin::posted_interrupts); }
  constexpr bool has_preemption_timer() const { return pin_allowed(pin::preemption_timer); }
  constexpr bool can_save_preemption_timer() const { return exit_allowed(exit_ctl::save_preemption_timer); }
  constexpr bool has_host_address_space_size() const {
    return exit_allowed(exit_ctl::host_address_space_size);
  }
  constexpr bool has_ia32e_mode_guest() const { return entry_allowed(entry_ctl::ia32e_mode_guest); }
  constexpr bool can_load_efer_on_entry() const { return entry_allowed(entry_ctl::load_ia32_efer); }
  constexpr bool can_save_efer_on_exit() const { return exit_allowed(exit_ctl::save_ia32_efer); }
  constexpr bool can_load_efer_on_exit() const { return exit_allowed(exit_ctl::load_ia32_efer); }
  constexpr bool can_load_pat() const {
    return entry_allowed(entry_ctl::load_ia32_pat) && exit_allowed(exit_ctl::load_ia32_pat);
  }
  constexpr bool can_ack_interrupt_on_exit() const {
    return exit_allowed(exit_ctl::acknowledge_interrupt_on_exit);
  }
  constexpr bool has_loadiwkey_exiting() const { return proc3_allowed(proc3::loadiwkey_exiting); }

  // ---- IA32_VMX_EPT_VPID_CAP (SDM A.10); it exists only with EPT or VPID ----
  constexpr bool ept_cap(unsigned bit) const {
    return (has_ept() || has_vpid()) && (ept_vpid_cap & (1ull << bit));
  }
  constexpr bool ept_execute_only() const { return ept_cap(0); }
  constexpr bool ept_4level_walk() const { return ept_cap(6); }
  constexpr bool ept_5level_walk() const { return ept_cap(7); }
  constexpr bool ept_uc() const { return ept_cap(8); }
  constexpr bool ept_wb() const { return ept_cap(14); }
  constexpr bool ept_2mb_pages() const { return ept_cap(16); }
  constexpr bool ept_1gb_pages() const { return ept_cap(17); }
  constexpr bool has_invept() const { return ept_cap(20); }
  constexpr bool ept_accessed_dirty() const { return ept_cap(21); }
  constexpr bool ept_advanced_violation_info() const { return ept_cap(22); }
  constexpr bool invept_single_context() const { return ept_cap(25); }
  constexpr bool invept_all_context() const { return ept_cap(26); }
  constexpr bool has_invvpid() const { return ept_cap(32); }
  constexpr bool invvpid_individual_address() const { return ept_cap(40); }
  constexpr bool invvpid_single_context() const { return ept_cap(41); }
  constexpr bool invvpid_all_context() const { return ept_cap(42); }
  constexpr bool invvpid_single_context_retaining_globals() const { return ept_cap(43); }

  // ---- IA32_VMX_MISC (SDM A.6) ----
  constexpr unsigned preemption_timer_rate() const { return misc & 0x1f; }  // TSC bit that ticks it
  constexpr bool exit_stores_lma() const { return misc & (1ull << 5); }
  constexpr bool activity_hlt() const { return misc & (1ull << 6); }
  constexpr bool activity_shutdown() const { return misc & (1ull << 7); }
  constexpr bool wait_for_sipi() const { return misc & (1ull << 8); }
  constexpr unsigned cr3_target_count() const { return (misc >> 16) & 0x1ff; }
  constexpr unsigned max_msr_list_entries() const { return 512 * (((misc >> 25) & 7) + 1); }
  constexpr bool vmwrite_exit_info() const { return misc & (1ull << 29); }
  constexpr bool inject_zero_length_instruction() const { return misc & (1ull << 30); }

  // ---- IA32_VMX_VMCS_ENUM (SDM A.9): highest index (bits 9:1 of an encoding) in use ----
  constexpr unsigned vmcs_max_index() const { return (vmcs_enum >> 1) & 0x1ff; }
  // ---- IA32_VMX_VMFUNC (SDM A.11) ----
  constexpr bool vmfunc_eptp_switching() const { return has_vm_functions() && (vmfunc & 1); }
};

// Reads one MSR. The seam through which load_capabilities reaches RDMSR (tests pass a map).
using MsrRead = uint64_t (*)(void* ctx, uint32_t msr);

// Reads the IA32_VMX_* MSRs (numbers from arch/msr_table.def) in an order that never touches one the CPU lacks (RDMSR of a
// missing MSR raises #GP): the TRUE_ MSRs only with BASIC[55]; PROCBASED_CTLS2 only when
// the secondary controls may be activated, PROCBASED_CTLS3 / EXIT_CTLS2 likewise;
// EPT_VPID_CAP only with EPT or VPID; VMFUNC only with "enable VM functions".
// Call it only after CPUID.1:ECX.VMX[5] says VMX exists.
VmxCapabilities load_capabilities(MsrRead read, void* ctx, bool host_apx);

// ---- what apexvisor needs ----------------------------------------------------------------
// One row per feature the check knows; `required` rows refuse VMX, the others only degrade.
enum class Feature : uint8_t {
  vmcs_write_back,     // BASIC[53:50] = 6
  vmcs_fits_page,      // BASIC[44:32] <= 4096
  host_64bit,          // exit control "host address-space size"
  ia32e_mode_guest,    // entry control "IA-32e mode guest"
  secondary_controls,  // primary control 31
  msr_bitmaps,         // primary control 28
  ept,                 // secondary control 1
  ept_4level,          // EPT_VPID_CAP[6]
  ept_write_back,      // EPT_VPID_CAP[14]
  invept,              // EPT_VPID_CAP[20] and [25] or [26]
  unrestricted_guest,  // secondary control 7
  load_efer_on_entry,  // entry control 15
  save_efer_on_exit,   // exit control 20
  load_efer_on_exit,   // exit control 21
  no_forced_exiting,   // no unhandled exiting control is default1 (allowed 0-settings)
  // optional
  vpid,              // secondary control 5, INVVPID with single- or all-context
  wait_for_sipi,     // MISC[8]
  preemption_timer,  // pin control 6
  ept_2mb_pages,     // EPT_VPID_CAP[16]
  ept_1gb_pages,     // EPT_VPID_CAP[17]
  rdtscp,            // secondary control 3
  invpcid,           // secondary control 12
  xsaves,            // secondary control 20
  user_wait_pause,   // secondary control 26
  apx_exit_info,     // host CPUID.(7,1):EDX[21]
  count
};

struct FeatureInfo {
  Feature feature;
  bool required;
  const char* name;    // "ept_write_back"
  const char* reason;  // what is missing, in words, with the SDM place
};

bool has_feature(const VmxCapabilities& caps, Feature f);
const FeatureInfo& feature_info(Feature f);

struct CheckResult {
  bool ok;
  Feature missing;     // the first required feature missing (Feature::count when ok)
  const char* reason;  // feature_info(missing).reason, or "" when ok
};

// Checks the required features in Feature order and names the first one missing.
[[nodiscard]] CheckResult check_required(const VmxCapabilities& caps);

// Whether this CPU has VMCS field `f`: its index is within IA32_VMX_VMCS_ENUM (A.9) and the
// feature the field belongs to is offered (Appendix B notes each such dependency).
bool vmcs_field_supported(const VmxCapabilities& caps, VmcsField f);
// The same as a dump filter (vmcs_dump.hpp): pass &caps as the context.
inline bool vmcs_field_supported_filter(const void* caps, VmcsField f) {
  return vmcs_field_supported(*static_cast<const VmxCapabilities*>(caps), f);
}

}  // namespace vmx
