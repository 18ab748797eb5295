#pragma once
#include "vmx/vmcs_access.hpp"

namespace vmm {

// Writes this CPU's current segment, descriptor-table, control-register and MSR state into
// the guest-state area of the current VMCS. GUEST_RSP/RIP are written by the launch stub.
bool capture_guest_state(vmx::VmcsAccess& vmcs);

}  // namespace vmm
