#include "vmm/launch/vmcs_report.hpp"

#include "vmm/log/log.hpp"
#include "vmx/vmcs_dump.hpp"
#include "vmx/vmcs_hardware.hpp"

namespace vmm {
namespace {
void log_line(void*, const char* line) { APEX_LOG(error, "  %s", line); }
}  // namespace

void dump_current_vmcs(unsigned cpu, const char* why) {
  APEX_LOG(error, "cpu%u: %s: VMCS dump follows", cpu, why);
  vmx::HardwareVmcs vmcs;
  vmx::DumpOptions options;
  options.skip_unreadable = true;  // fields this CPU lacks
  vmx::dump_vmcs(vmcs, log_line, nullptr, options);
}

}  // namespace vmm
