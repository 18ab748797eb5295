#pragma once

namespace vmm {

// Logs the current VMCS, one field a line, after a line naming the CPU and why.
void dump_current_vmcs(unsigned cpu, const char* why);

}  // namespace vmm
