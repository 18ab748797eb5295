// Whether a CPU is executing the hypervisor (VMX root, handling an exit) right now. Code
// shared by the loader (which keeps running as a guest after the launch) and the host must
// know: the host must never call into the firmware — its ConOut, for one, re-enables
// interrupts, and an interrupt in VMX root hits the host's exception-only IDT.
#pragma once

#include "vmm/vcpu.hpp"

namespace vmm {

// The exit path marks its vCPU on every VM exit: one store each, inline. The flag is only
// ever read on the same CPU (by in_root(), from the log sinks), so relaxed is enough.
inline void enter_root(Vcpu& vcpu) { __atomic_store_n(&vcpu.in_root, true, __ATOMIC_RELAXED); }
inline void leave_root(Vcpu& vcpu) { __atomic_store_n(&vcpu.in_root, false, __ATOMIC_RELAXED); }

// CPU `cpu` (Vcpu::index) is in VMX root; false for a CPU without a registered vCPU
// (vmm/vcpu_registry.hpp), which has never been virtualized.
bool in_root(unsigned cpu);

}  // namespace vmm
