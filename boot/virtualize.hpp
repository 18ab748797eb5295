// Virtualizing every CPU (issue P2): capabilities and required controls, the machine-wide
// structures (host page tables, EPT from the MTRRs with the hypervisor's memory hidden, MSR
// bitmap, guest policy), then a launch on each CPU through MP services.
#pragma once
#include "boot/config.hpp"

namespace boot {

struct VirtualizeSummary {
  unsigned cpus;
  unsigned virtualized;
};

// `vmx_ready` says, per CPU index, whether the VMXON probe succeeded there.
VirtualizeSummary virtualize_all_cpus(const Config& cfg, const bool* vmx_ready);

}  // namespace boot
