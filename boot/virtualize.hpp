// Virtualizing every CPU (issue P2): capabilities and required controls, the machine-wide
// structures (host page tables, EPT from the MTRRs with the hypervisor's memory hidden, MSR
// bitmap, guest policy), then a launch on each CPU through MP services.
#pragma once
#include "boot/config.hpp"
#include "boot/loader_handoff.hpp"
#include "boot/mp.hpp"
#include "vmm/launch/guest_continuation.hpp"

namespace boot {

struct VirtualizeSummary {
  unsigned cpus;
  unsigned virtualized;
};

// How the CPUs are launched once the machine-wide structures are built: `launch` on each CPU
// to be virtualized, the APs first and the BSP last (with `bsp_resume`). The loader's
// (boot/efi_main.cpp) probes the APs in the same MP services round (boot/mp.hpp).
using LaunchAllFn = void (*)(LaunchFn launch, void* launch_arg, const vmm::GuestContinuation& bsp_resume, void* ctx);

// `attempt` says, per CPU index, whether to build that CPU's structures and launch it. Once
// the BSP is launched its guest continues at `bsp_resume` (the firmware image) and this does
// not return; each CPU records its outcome in `handoff->outcome` first. It returns only when
// the BSP was not launched.
VirtualizeSummary virtualize_all_cpus(const Config& cfg, const bool* attempt, const vmm::GuestContinuation& bsp_resume,
                                      LoaderHandoff* handoff, LaunchAllFn launch_all, void* ctx);

}  // namespace boot
