// Whether the loader may virtualize a machine with this many CPUs (vmm/cpu_limit.hpp).
//
// All or nothing: a CPU apexvisor cannot take would go on running the firmware and then the
// OS with no EPT below it, free to read and write hypervisor memory, so a machine with more
// CPUs than kMaxCpus boots its OS without the hypervisor, with this reason in the log.
#pragma once
#include <stdint.h>

#include "vmm/cpu_limit.hpp"

namespace boot {

inline bool cpu_count_supported(uint64_t reported_by_firmware) { return reported_by_firmware <= vmm::kMaxCpus; }

inline constexpr const char* kTooManyCpusReason =
    "more processors than apexvisor can virtualize: not virtualizing (a processor left outside would run the "
    "OS with no EPT, able to reach hypervisor memory); the OS boots without the hypervisor";

}  // namespace boot
