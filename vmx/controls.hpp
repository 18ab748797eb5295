// VM-execution, VM-exit and VM-entry control bits (SDM Vol. 3C 25.6 "VM-Execution Control
// Fields", 25.7 "VM-Exit Control Fields", 25.8 "VM-Entry Control Fields").
// Which of them a CPU allows is in the capability MSRs (capabilities.hpp).
#pragma once
#include <stdint.h>

namespace vmx {

// Pin-based VM-execution controls (SDM 25.6.1).
namespace pin {
inline constexpr uint32_t external_interrupt_exiting = 1u << 0;
inline constexpr uint32_t nmi_exiting = 1u << 3;
inline constexpr uint32_t virtual_nmis = 1u << 5;
inline constexpr uint32_t preemption_timer = 1u << 6;
inline constexpr uint32_t posted_interrupts = 1u << 7;
}  // namespace pin

// Primary processor-based VM-execution controls (SDM 25.6.2).
namespace proc {
inline constexpr uint32_t interrupt_window_exiting = 1u << 2;
inline constexpr uint32_t use_tsc_offsetting = 1u << 3;
inline constexpr uint32_t hlt_exiting = 1u << 7;
inline constexpr uint32_t invlpg_exiting = 1u << 9;
inline constexpr uint32_t mwait_exiting = 1u << 10;
inline constexpr uint32_t rdpmc_exiting = 1u << 11;
inline constexpr uint32_t rdtsc_exiting = 1u << 12;
inline constexpr uint32_t cr3_load_exiting = 1u << 15;
inline constexpr uint32_t cr3_store_exiting = 1u << 16;
inline constexpr uint32_t activate_tertiary_controls = 1u << 17;
inline constexpr uint32_t cr8_load_exiting = 1u << 19;
inline constexpr uint32_t cr8_store_exiting = 1u << 20;
inline constexpr uint32_t use_tpr_shadow = 1u << 21;
inline constexpr uint32_t nmi_window_exiting = 1u << 22;
inline constexpr uint32_t mov_dr_exiting = 1u << 23;
inline constexpr uint32_t unconditional_io_exiting = 1u << 24;
inline constexpr uint32_t use_io_bitmaps = 1u << 25;
inline constexpr uint32_t monitor_trap_flag = 1u << 27;
inline constexpr uint32_t use_msr_bitmaps = 1u << 28;
inline constexpr uint32_t monitor_exiting = 1u << 29;
inline constexpr uint32_t pause_exiting = 1u << 30;
inline constexpr uint32_t activate_secondary_controls = 1u << 31;
}  // namespace proc

// Secondary processor-based VM-execution controls (SDM 25.6.2).
namespace proc2 {
inline constexpr uint32_t virtualize_apic_accesses = 1u << 0;
inline constexpr uint32_t enable_ept = 1u << 1;
inline constexpr uint32_t descriptor_table_exiting = 1u << 2;
inline constexpr uint32_t enable_rdtscp = 1u << 3;
inline constexpr uint32_t virtualize_x2apic_mode = 1u << 4;
inline constexpr uint32_t enable_vpid = 1u << 5;
inline constexpr uint32_t wbinvd_exiting = 1u << 6;
inline constexpr uint32_t unrestricted_guest = 1u << 7;
inline constexpr uint32_t apic_register_virtualization = 1u << 8;
inline constexpr uint32_t virtual_interrupt_delivery = 1u << 9;
inline constexpr uint32_t pause_loop_exiting = 1u << 10;
inline constexpr uint32_t rdrand_exiting = 1u << 11;
inline constexpr uint32_t enable_invpcid = 1u << 12;
inline constexpr uint32_t enable_vm_functions = 1u << 13;
inline constexpr uint32_t vmcs_shadowing = 1u << 14;
inline constexpr uint32_t enable_encls_exiting = 1u << 15;
inline constexpr uint32_t rdseed_exiting = 1u << 16;
inline constexpr uint32_t enable_pml = 1u << 17;
inline constexpr uint32_t ept_violation_ve = 1u << 18;
inline constexpr uint32_t conceal_vmx_from_pt = 1u << 19;
inline constexpr uint32_t enable_xsaves_xrstors = 1u << 20;
inline constexpr uint32_t pasid_translation = 1u << 21;
inline constexpr uint32_t mode_based_execute_control = 1u << 22;
inline constexpr uint32_t sub_page_write_permissions = 1u << 23;
inline constexpr uint32_t pt_uses_guest_physical = 1u << 24;
inline constexpr uint32_t use_tsc_scaling = 1u << 25;
inline constexpr uint32_t enable_user_wait_pause = 1u << 26;
inline constexpr uint32_t enable_pconfig = 1u << 27;
inline constexpr uint32_t enable_enclv_exiting = 1u << 28;
inline constexpr uint32_t vmm_bus_lock_detection = 1u << 30;
inline constexpr uint32_t instruction_timeout = 1u << 31;
}  // namespace proc2

// Tertiary processor-based VM-execution controls, a 64-bit field (SDM 25.6.2).
namespace proc3 {
inline constexpr uint64_t loadiwkey_exiting = 1ull << 0;
inline constexpr uint64_t enable_hlat = 1ull << 1;
inline constexpr uint64_t ept_paging_write_control = 1ull << 2;
inline constexpr uint64_t guest_paging_verification = 1ull << 3;
inline constexpr uint64_t ipi_virtualization = 1ull << 4;
inline constexpr uint64_t virtualize_ia32_spec_ctrl = 1ull << 7;
}  // namespace proc3

// Primary VM-exit controls (SDM 25.7.1).
namespace exit_ctl {
inline constexpr uint32_t save_debug_controls = 1u << 2;
inline constexpr uint32_t host_address_space_size = 1u << 9;
inline constexpr uint32_t load_ia32_perf_global_ctrl = 1u << 12;
inline constexpr uint32_t acknowledge_interrupt_on_exit = 1u << 15;
inline constexpr uint32_t save_ia32_pat = 1u << 18;
inline constexpr uint32_t load_ia32_pat = 1u << 19;
inline constexpr uint32_t save_ia32_efer = 1u << 20;
inline constexpr uint32_t load_ia32_efer = 1u << 21;
inline constexpr uint32_t save_preemption_timer = 1u << 22;
inline constexpr uint32_t clear_ia32_bndcfgs = 1u << 23;
inline constexpr uint32_t conceal_vmx_from_pt = 1u << 24;
inline constexpr uint32_t clear_ia32_rtit_ctl = 1u << 25;
inline constexpr uint32_t clear_ia32_lbr_ctl = 1u << 26;
inline constexpr uint32_t clear_uinv = 1u << 27;
inline constexpr uint32_t load_cet_state = 1u << 28;
inline constexpr uint32_t load_pkrs = 1u << 29;
inline constexpr uint32_t save_ia32_perf_global_ctl = 1u << 30;
inline constexpr uint32_t activate_secondary_controls = 1u << 31;
}  // namespace exit_ctl

// VM-entry controls (SDM 25.8.1).
namespace entry_ctl {
inline constexpr uint32_t load_debug_controls = 1u << 2;
inline constexpr uint32_t ia32e_mode_guest = 1u << 9;
inline constexpr uint32_t entry_to_smm = 1u << 10;
inline constexpr uint32_t deactivate_dual_monitor = 1u << 11;
inline constexpr uint32_t load_ia32_perf_global_ctrl = 1u << 13;
inline constexpr uint32_t load_ia32_pat = 1u << 14;
inline constexpr uint32_t load_ia32_efer = 1u << 15;
inline constexpr uint32_t load_ia32_bndcfgs = 1u << 16;
inline constexpr uint32_t conceal_vmx_from_pt = 1u << 17;
inline constexpr uint32_t load_ia32_rtit_ctl = 1u << 18;
inline constexpr uint32_t load_uinv = 1u << 19;
inline constexpr uint32_t load_cet_state = 1u << 20;
inline constexpr uint32_t load_guest_ia32_lbr_ctl = 1u << 21;
inline constexpr uint32_t load_pkrs = 1u << 22;
}  // namespace entry_ctl

}  // namespace vmx
