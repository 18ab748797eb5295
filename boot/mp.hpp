// The processors of the machine, through EFI_MP_SERVICES_PROTOCOL (PI spec Vol 2, 13.4).
// Without the protocol the machine is treated as one CPU.
#pragma once
#include <stdint.h>

namespace boot {

struct CpuInfo {
  uint32_t apic_id;
  bool bsp;
  bool enabled;
};

constexpr unsigned kMaxCpus = 256;

// Locates the protocol and records every processor. Returns the number of CPUs.
unsigned mp_init();
unsigned cpu_count();
const CpuInfo& cpu_info(unsigned index);
bool mp_available();

// Runs fn(index, arg) on every enabled CPU, one at a time, BSP first, each AP through
// StartupThisAP (blocking, bounded by a timeout). Returns how many CPUs completed it; an AP
// that fails or times out is logged and skipped.
using PerCpuFn = void (*)(unsigned index, void* arg);
unsigned run_on_each_cpu(PerCpuFn fn, void* arg);

}  // namespace boot
