// Hypercalls 16-19 of the EPT write monitor on the caller's registers (issue P4). The ABI
// is documented with the hypercall table in vmm/hypercall.hpp; this is its one
// implementation, called from there. `m` may be null (no monitor on this machine).
#pragma once
#include <stdint.h>

#include "vmm/hypercall.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmx/gpr_file.hpp"

namespace vmm::monitor {

HypercallStatus to_hypercall_status(Status s);

// The info word of hypercall 18: size 7:0, instruction length 15:8, kind 23:16, bit 24 R16..R31
// kept (parts 2-5), CPU 63:32.
uint64_t event_info(const Event& e);
// Hypercall 18's parts: 0 and 1 the event, 2-5 R16..R31 (four a part).
inline constexpr uint64_t kEventLastPart = 5;

HypercallStatus hypercall_add(WriteMonitor* m, vmx::GprFile& regs, uint64_t gpa, uint64_t size);
HypercallStatus hypercall_remove(WriteMonitor* m, vmx::GprFile& regs, uint64_t gpa, uint64_t size);
HypercallStatus hypercall_read_event(WriteMonitor* m, vmx::GprFile& regs, uint64_t seq, uint64_t part);
HypercallStatus hypercall_stats(WriteMonitor* m, vmx::GprFile& regs);

}  // namespace vmm::monitor
