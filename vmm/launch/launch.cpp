#include "vmm/launch/launch.hpp"

#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "vmm/apic/apic_virtualization.hpp"
#include "vmm/apic/mmio_xapic.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/launch/guest_state.hpp"
#include "vmm/launch/vmcs_report.hpp"
#include "vmm/policy/cpuid_bits.hpp"
#include "vmm/policy/xcr0_state.hpp"
#include "vmx/asm/egpr_capture.hpp"
#include "vmx/controls.hpp"
#include "vmx/fixed_cr.hpp"
#include "vmx/vmcs_hardware.hpp"
#include "vmx/vmx_insn.hpp"

extern "C" void apex_vm_exit_entry();

namespace vmm {
namespace {

using vmx::VmcsField;

// `firmware_cr0`: the CR0 the firmware ran with before VMXON forced the VMX-fixed bits.
bool write_controls(vmx::VmcsAccess& v, const vmx::VmxCapabilities& caps, const CpuVm& cpu, uint64_t firmware_cr0) {
  const GuestPolicy& p = machine_vm()->policy;
  bool ok = true;
  // NMIs exit and are re-injected (exit_entry.cpp); virtual NMIs make NMI-window exiting
  // available for when the guest blocks them (SDM 26.3: NMI-window needs virtual NMIs).
  ok &= v.write(VmcsField::pin_based_controls, caps.adjust_pinbased(vmx::pin::nmi_exiting | vmx::pin::virtual_nmis));
  const apic::VirtualApicPage* vapic = cpu.vcpu->vapic;
  uint32_t proc = vmx::proc::use_msr_bitmaps | vmx::proc::activate_secondary_controls;
  if (vapic) proc |= apic::kApicVirtProcControls;
  ok &= v.write(VmcsField::primary_processor_based_controls, caps.adjust_procbased(proc));
  uint32_t proc2 = vmx::proc2::enable_ept | vmx::proc2::unrestricted_guest;
  if (vapic) {
    // apic_virt: the xAPIC page is the APIC-access page, reads of it come from this CPU's
    // virtual-APIC page (filled from the real APIC by launch_this_cpu), and the TPR
    // threshold starts at the TPR's class (vmm/apic/virtual_apic.hpp).
    proc2 |= apic::kApicVirtProc2Controls;
    ok &= v.write(VmcsField::apic_access_address, machine_vm()->apic_access_address);
    ok &= v.write(VmcsField::virtual_apic_address, reinterpret_cast<uint64_t>(vapic));
    ok &= v.write(VmcsField::tpr_threshold, (vapic->get(apic::xapic::tpr) >> 4) & 0xf);
  }
  if (machine_vm()->vpid) proc2 |= vmx::proc2::enable_vpid;
  // Instructions the guest may know from CPUID: without these controls they would #UD.
  proc2 |= vmx::proc2::enable_rdtscp | vmx::proc2::enable_invpcid | vmx::proc2::enable_xsaves_xrstors |
           vmx::proc2::enable_user_wait_pause;
  if (p.dt_guard) proc2 |= vmx::proc2::descriptor_table_exiting;
  proc2 = caps.adjust_procbased2(proc2);
  ok &= v.write(VmcsField::secondary_processor_based_controls, proc2);
  // With XSAVES enabled, XSAVES/XRSTORS exit for any component set in the XSS-exiting
  // bitmap (SDM 26.1.3); a field VMCLEAR leaves undefined, so zero it: no such exit exists
  // for a guest to cause (vmm/exit_audit.def).
  if (proc2 & vmx::proc2::enable_xsaves_xrstors) ok &= v.write(VmcsField::xss_exiting_bitmap, 0);
  ok &= v.write(VmcsField::primary_vm_exit_controls,
                caps.adjust_exit(vmx::exit_ctl::host_address_space_size | vmx::exit_ctl::save_ia32_efer |
                                 vmx::exit_ctl::load_ia32_efer | vmx::exit_ctl::save_ia32_pat |
                                 vmx::exit_ctl::load_ia32_pat | vmx::exit_ctl::save_debug_controls));
  const bool long_mode = arch::rdmsr(arch::Msr::IA32_EFER) & arch::efer::LMA;
  ok &= v.write(VmcsField::vm_entry_controls,
                caps.adjust_entry((long_mode ? vmx::entry_ctl::ia32e_mode_guest : 0) | vmx::entry_ctl::load_ia32_efer |
                                  vmx::entry_ctl::load_ia32_pat | vmx::entry_ctl::load_debug_controls));
  ok &= v.write(VmcsField::exception_bitmap, 0);
  ok &= v.write(VmcsField::cr3_target_count, 0);
  ok &= v.write(VmcsField::msr_bitmap, reinterpret_cast<uint64_t>(machine_vm()->msr_bitmap));
  ok &= v.write(VmcsField::ept_pointer, machine_vm()->eptp);
  if (machine_vm()->vpid) ok &= v.write(VmcsField::virtual_processor_id, cpu.index + 1);  // 0 is the host's

  // CR0/CR4 ownership (SDM 25.6.6): the hypervisor owns the bits VMX fixes (except PE/PG
  // under unrestricted guest), CR0.CD/NW (which VM entry cannot load: guest_view.hpp) and
  // CR4.VMXE; the guest reads its own view from the shadows, the firmware's CD/NW included,
  // and an attempt to change an owned bit exits (vmm/handlers/cr_access).
  const uint64_t cr4 = arch::read_cr4();
  const LaunchCr0 cr0 = launch_cr0(p, firmware_cr0);
  const uint64_t cr4_mask = ((p.cr4_fixed0 | ~p.cr4_fixed1) & 0xffffffffull) | arch::cr4::VMXE;
  ok &= v.write(VmcsField::cr0_guest_host_mask, cr0.mask);
  ok &= v.write(VmcsField::cr0_read_shadow, cr0.shadow);
  ok &= v.write(VmcsField::guest_cr0, cr0.real);
  ok &= v.write(VmcsField::cr4_guest_host_mask, cr4_mask);
  ok &= v.write(VmcsField::cr4_read_shadow, cr4 & ~arch::cr4::VMXE);
  return ok;
}

bool write_host_state(vmx::VmcsAccess& v, const CpuVm& cpu) {
  HostCpu* h = cpu.host;
  bool ok = true;
  uint64_t cr4 = arch::read_cr4();
  // The host executes XSETBV for the guest, which needs CR4.OSXSAVE (design.md pitfalls);
  // OVMF leaves it clear on APs.
  if (arch::cpuid(1).ecx & policy::cpuid::kLeaf1EcxXsave) cr4 |= arch::cr4::OSXSAVE;
  ok &= v.write(VmcsField::host_cr0, arch::read_cr0());
  ok &= v.write(VmcsField::host_cr3, machine_vm()->host_cr3);
  ok &= v.write(VmcsField::host_cr4, cr4);
  ok &= v.write(VmcsField::host_cs_selector, host_sel::code);
  constexpr VmcsField kDataSelectors[] = {VmcsField::host_ss_selector, VmcsField::host_ds_selector,
                                          VmcsField::host_es_selector, VmcsField::host_fs_selector,
                                          VmcsField::host_gs_selector};
  for (VmcsField f : kDataSelectors) ok &= v.write(f, host_sel::data);
  ok &= v.write(VmcsField::host_tr_selector, host_sel::tss);
  ok &= v.write(VmcsField::host_fs_base, 0);
  ok &= v.write(VmcsField::host_gs_base, reinterpret_cast<uint64_t>(h));  // host_exception finds its CPU
  ok &= v.write(VmcsField::host_tr_base, reinterpret_cast<uint64_t>(&h->tss));
  ok &= v.write(VmcsField::host_gdtr_base, reinterpret_cast<uint64_t>(h->gdt));
  ok &= v.write(VmcsField::host_idtr_base, reinterpret_cast<uint64_t>(h->idt));
  ok &= v.write(VmcsField::host_ia32_sysenter_cs, 0);
  ok &= v.write(VmcsField::host_ia32_sysenter_esp, 0);
  ok &= v.write(VmcsField::host_ia32_sysenter_eip, 0);
  ok &= v.write(VmcsField::host_ia32_efer, arch::rdmsr(arch::Msr::IA32_EFER));
  ok &= v.write(VmcsField::host_ia32_pat, arch::rdmsr(arch::Msr::IA32_PAT));
  ok &= v.write(VmcsField::host_rsp, h->host_rsp());
  ok &= v.write(VmcsField::host_rip, reinterpret_cast<uint64_t>(apex_vm_exit_entry));
  return ok;
}

}  // namespace

const MachineVm* detail::g_machine_vm = nullptr;

void set_machine_vm(const MachineVm* vm) { detail::g_machine_vm = vm; }

LaunchResult launch_this_cpu(const vmx::VmxCapabilities& caps, CpuVm& cpu, const GuestContinuation& resume) {
  host_cpu_init(cpu.host, cpu.index, cpu.vcpu);
  Vcpu& vcpu = *cpu.vcpu;
  vcpu.index = cpu.index;
  vcpu.state = VcpuState::active;
  // The firmware's XCR0 becomes the guest's (policy/xcr0_state.hpp says how it is read and
  // when it is refused). A firmware with XCR0.APX=1 keeps its R16..R31: they are captured
  // into gpr[16..31] by the exit stub's own EGPR block (vmx/asm/egpr_capture.S) while
  // CR4.OSXSAVE is still set for the read; nothing after it touches an EGPR before VMLAUNCH.
  const uint64_t cr4_at_entry = arch::read_cr4();
  const policy::LaunchXcr0Read how = policy::launch_xcr0_read(
      arch::cpuid(1).ecx & policy::cpuid::kLeaf1EcxXsave, cr4_at_entry & arch::cr4::OSXSAVE);
  if (how.set_osxsave) arch::write_cr4(cr4_at_entry | arch::cr4::OSXSAVE);
  const uint64_t firmware_xcr0 = how.read_xcr0 ? arch::xgetbv(0) : policy::xcr0::X87;
  const policy::LaunchXcr0Verdict verdict =
      policy::launch_xcr0_verdict(firmware_xcr0, machine_vm()->policy.apx.expose_apx);
  if (const char* why = policy::launch_xcr0_refusal(verdict)) {
    if (how.set_osxsave) arch::write_cr4(cr4_at_entry);
    return {false, why, 0};
  }
  policy::adopt_launch_xcr0(vcpu.xstate, firmware_xcr0);
  apex_capture_guest_egprs(&vcpu.regs, &vcpu.xstate.save_egprs);  // a no-op unless XCR0.APX=1
  if (how.set_osxsave) arch::write_cr4(cr4_at_entry);
  // The guest resumes at the return of a call made several frames up (guest_continuation.h):
  // with CET shadow stacks on, the shadow stack would not match and that return would #CP.
  if (arch::read_cr4() & arch::cr4::CET)
    return {false, "the firmware runs with CET (CR4.CET=1): the launch's return would not match its shadow stack", 0};

  const uint64_t original_cr0 = arch::read_cr0(), original_cr4 = arch::read_cr4();
  auto fail = [&](const char* why, uint32_t err) {
    vmx::vmxoff();
    arch::write_cr4(original_cr4);
    arch::write_cr0(original_cr0);
    return LaunchResult{false, why, err};
  };
  // VMXON needs the fixed CR0/CR4 bits and CR4.VMXE (SDM A.7, A.8); they stay, and the CR
  // read shadows hide VMXE from the guest.
  arch::write_cr0(vmx::apply_cr0_fixed(arch::read_cr0(), caps, false));
  arch::write_cr4(vmx::apply_cr4_fixed(arch::read_cr4() | arch::cr4::VMXE, caps));
  *static_cast<uint32_t*>(cpu.vmxon_region) = caps.vmcs_revision_id();
  *static_cast<uint32_t*>(cpu.vmcs) = caps.vmcs_revision_id();
  if (vmx::vmxon(reinterpret_cast<uint64_t>(cpu.vmxon_region)) != vmx::VmxStatus::ok) {
    arch::write_cr4(original_cr4);
    arch::write_cr0(original_cr0);
    return {false, "VMXON failed", 0};
  }
  if (vmx::vmclear(reinterpret_cast<uint64_t>(cpu.vmcs)) != vmx::VmxStatus::ok ||
      vmx::vmptrld(reinterpret_cast<uint64_t>(cpu.vmcs)) != vmx::VmxStatus::ok)
    return fail("VMCLEAR/VMPTRLD of the VMCS failed", 0);
  if (vcpu.vapic) {
    apic::MmioXapic real(machine_vm()->apic_access_address);
    apic::mirror_all(*vcpu.vapic, real);
  }
  vmx::HardwareVmcs vmcs;
  if (!write_controls(vmcs, caps, cpu, original_cr0) || !write_host_state(vmcs, cpu) || !capture_guest_state(vmcs))
    return fail("VMWRITE failed while building the VMCS", vmcs.instruction_error());
  prepare_exit_context(cpu);
  vcpu.virtualized = true;  // before VMLAUNCH: once the guest runs, it cannot reach the vCPU
  // Success never comes back here: the guest continues at `resume`, outside this image.
  int r = apex_vmx_launch_to(&resume, kLaunchedAsGuest);
  vcpu.virtualized = false;
  uint32_t err = static_cast<uint32_t>(vmcs.read(VmcsField::vm_instruction_error));
  if (r == 2) dump_current_vmcs(cpu.index, "VMLAUNCH failed");
  return fail(r == 1   ? "VMLAUNCH failed: VMfailInvalid"
              : r == 2 ? "VMLAUNCH failed: VMfailValid"
                       : "VMWRITE of the guest's continuation failed",
              err);
}

}  // namespace vmm
