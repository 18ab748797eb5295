#pragma once
#include "vmx/gpr_file.hpp"

namespace vmm {

// Logs the current VMCS, one field a line, after a line naming the CPU and why.
void dump_current_vmcs(unsigned cpu, const char* why);

// Logs the guest's GPRs saved by the exit stub, R16..R31 included when `egprs` (the guest's
// XCR0.APX: vmx/vmcs_dump.hpp dump_gprs). At error level, as the guest-state fields: they are
// the guest's own values.
void dump_guest_gprs(const vmx::GprFile& regs, bool egprs);

}  // namespace vmm
