// The processors of the machine, through EFI_MP_SERVICES_PROTOCOL (PI spec Vol 2, 13.4).
// Without the protocol the machine is treated as one CPU.
#pragma once
#include <stdint.h>

#include "vmm/cpu_limit.hpp"
#include "vmm/launch/guest_continuation.hpp"

namespace boot {

struct CpuInfo {
  uint32_t apic_id;
  bool bsp;
  bool enabled;
};

using vmm::kMaxCpus;

// Locates the protocol and records every processor, up to kMaxCpus. Returns the number of
// CPUs recorded.
unsigned mp_init();
// How many processors the firmware reported (may exceed kMaxCpus: boot/cpu_limit_check.hpp).
uint64_t cpus_reported_by_firmware();
unsigned cpu_count();
const CpuInfo& cpu_info(unsigned index);
bool mp_available();

// What runs on a CPU to launch it: `resume` is where that CPU's guest continues once launched:
// for an AP the return to MP services (through apex_ap_call_capturing, each AP its own), for
// the BSP the firmware image's call into this one. A CPU that is launched never returns to
// the caller: the BSP's launch, if it succeeds, is the last thing this image does.
using LaunchFn = void (*)(unsigned index, void* arg, const vmm::GuestContinuation& resume);

// One StartupAllAPs round for the whole boot (issue P12): each round wakes the APs, and a
// wake-up costs about 10 ms of the firmware's own time (OVMF's INIT-SIPI-SIPI and its delay,
// ~515,000 instructions under Bochs, the same for 1 AP or many), so the APs probe and launch
// in one. Every enabled AP at once (StartupAllAPs, SingleThread=FALSE, blocking): `probe`,
// whose answer (VMX ready) it publishes; then the APs agree on one decision, without the BSP
// (which waits in the firmware): launch when `launch_allowed` and every enabled AP answered
// ready, once all have answered; cancel as soon as one is not ready or when an AP has not
// answered within a bound (the machine-wide rule: VMX on only some CPUs means none). On
// launch, `launch` runs on each AP with its own continuation back into MP services. An AP
// that did not run the procedure is logged by name. The BSP probes before the round, on its own. Returns the decision:
// true when the APs launched (or there is no AP and `launch_allowed`); the caller then
// launches the BSP. probe and launch may write only what belongs to `index`, and the log.
using ProbeFn = bool (*)(unsigned index, void* arg);
bool probe_and_launch_aps(ProbeFn probe, void* probe_arg, LaunchFn launch, void* launch_arg, bool launch_allowed);

}  // namespace boot
