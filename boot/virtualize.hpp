// Virtualizing every CPU (issue P2): capabilities and required controls, the machine-wide
// structures (host page tables, EPT from the MTRRs with the hypervisor's memory hidden, MSR
// bitmap, guest policy), then a launch on each CPU through MP services.
#pragma once
#include "boot/config.hpp"
#include "boot/loader_handoff.hpp"
#include "vmm/launch/guest_continuation.hpp"

namespace boot {

struct VirtualizeSummary {
  unsigned cpus;
  unsigned virtualized;
};

// `vmx_ready` says, per CPU index, whether the VMXON probe succeeded there. The APs are
// launched first, the BSP last; once the BSP is launched its guest continues at `bsp_resume`
// (the firmware image) and this does not return: `handoff->virtualized` is set before that.
// It returns only when the BSP was not launched.
VirtualizeSummary virtualize_all_cpus(const Config& cfg, const bool* vmx_ready, const vmm::GuestContinuation& bsp_resume,
                                      LoaderHandoff* handoff);

}  // namespace boot
