// Where a guest NMI goes before the next VM entry (SDM Vol 3C 26.7.6 / 27.6.1). The NMI
// arrives as Vcpu::pending's nmi bit (an NMI exit's handler, or the host's NMI handler when it
// hit VMX root); the entry path then either injects it or holds it in Vcpu::nmi_held:
//   - injected at once when the guest blocks nothing and no other event is being injected;
//   - held, with an NMI window opened, while the guest blocks NMIs (by NMI, STI or MOV SS),
//     another event is being injected, or a single-step trap is pending (a vectoring entry
//     would drop it, 27.7.3; the #DB has priority and the window exit follows its delivery):
//     the NMI-window exit injects it (handlers/nmi_window.cpp);
//   - held without a window in wait-for-SIPI, where no event may be injected (27.3.1.5): the
//     SIPI that starts the CPU arms it again (rearm_held_nmi), as hardware holds it there.
// The pending bit is always cleared here: it means "an NMI not yet placed", so the exit stub's
// test of Vcpu::pending (vmm/host/reentry_window.hpp), which runs this again while any bit is
// set, never spins on an NMI that must wait. Held or pending, it is one NMI (NMIs collapse to
// one while one waits, as on hardware).
#pragma once
#include "vmm/event_injection.hpp"
#include "vmm/vcpu.hpp"
#include "vmx/controls.hpp"
#include "vmx/guest_non_register_state.hpp"
#include "vmx/vmcs_field.hpp"

namespace vmm {

template <class Vmcs>
void place_pending_nmi(Vmcs& vmcs, Vcpu& vcpu) {
  using vmx::VmcsField;
  vcpu.pending.clear(pending::nmi);  // first: an NMI landing after this sets it again
  vcpu.nmi_held = true;
  if (vcpu.state == VcpuState::wait_for_sipi) return;
  namespace intr = vmx::interruptibility;
  const uint64_t blocked = vmcs.read(VmcsField::guest_interruptibility_state) &
                           (intr::blocking_by_nmi | intr::blocking_by_sti | intr::blocking_by_mov_ss);
  const bool injecting = vmcs.read(VmcsField::vm_entry_interruption_info) & (1u << 31);
  const bool single_step = vmcs.read(VmcsField::guest_pending_debug_exceptions) & vmx::pending_debug::bs;
  if (!injecting && !blocked && !single_step) {
    constexpr Injection nmi = plan_injection({vector::NMI, EventType::nmi, false, 0}, 0);
    vcpu.nmi_held = false;
    (void)vmcs.write(VmcsField::vm_entry_interruption_info, nmi.interruption_info);
    return;
  }
  const uint64_t proc = vmcs.read(VmcsField::primary_processor_based_controls);
  if (!(proc & vmx::proc::nmi_window_exiting))
    (void)vmcs.write(VmcsField::primary_processor_based_controls, proc | vmx::proc::nmi_window_exiting);
}

// The SIPI that starts a CPU from wait-for-SIPI: an NMI held there is placed on the next entry.
inline void rearm_held_nmi(Vcpu& vcpu) {
  if (!vcpu.nmi_held) return;
  vcpu.nmi_held = false;
  vcpu.pending.set(pending::nmi);
}

// An NMI waiting in either form, taken by the NMI-window exit (nothing left waiting after).
inline bool take_waiting_nmi(Vcpu& vcpu) {
  const bool waiting = vcpu.nmi_held || vcpu.pending.has(pending::nmi);
  vcpu.nmi_held = false;
  vcpu.pending.clear(pending::nmi);
  return waiting;
}

}  // namespace vmm
