// The target side of intercepted INIT/STARTUP (ap_start.hpp): applied on the vCPU's own CPU,
// in VMX root, before each VM entry.
#pragma once
#include "vmm/exit_context.hpp"

namespace vmm::apic {

// Takes every event out of this vCPU's mailbox and applies it: INIT parks the vCPU (it will
// not enter its guest), STARTUP loads the post-INIT real-mode state at vector*4096 and
// lets it run. Returns true when the guest may be entered now.
bool drain_ap_mailbox(ExitContext& ctx);

// An NMI exit may be a wake-up from another CPU rather than the guest's NMI: true when it
// was a wake-up (consumed; nothing to inject).
bool is_wakeup_nmi(Vcpu& vcpu);

}  // namespace vmm::apic
