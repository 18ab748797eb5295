// Whether a CPU is executing the hypervisor (VMX root, handling an exit) right now. Code
// shared by the loader (which keeps running as a guest after the launch) and the host must
// know: the host must never call into the firmware — its ConOut, for one, re-enables
// interrupts, and an interrupt in VMX root hits the host's exception-only IDT.
#pragma once

namespace vmm {

inline constexpr unsigned kRootStateCpus = 256;

void enter_root(unsigned cpu);
void leave_root(unsigned cpu);
bool in_root(unsigned cpu);

}  // namespace vmm
