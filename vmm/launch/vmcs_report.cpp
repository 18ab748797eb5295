#include "vmm/launch/vmcs_report.hpp"

#include "vmm/log/log.hpp"
#include "vmx/vmcs_dump.hpp"
#include "vmx/vmcs_hardware.hpp"

namespace vmm {
namespace {

void log_line(void*, const char* line) { APEX_LOG(error, "  %s", line); }
void log_private_line(void*, const char* line) { APEX_LOG_PRIVATE("  %s", line); }

// The ctx is whether the pass prints the fields that may hold hypervisor addresses.
bool in_pass(const void* ctx, vmx::VmcsField f) {
  return vmx::vmcs_field_may_hold_hypervisor_address(f) == *static_cast<const bool*>(ctx);
}

}  // namespace

// Two passes: the guest's state and the exit information at error level (the ring keeps
// them; they are the guest's own), then the fields that may hold the hypervisor's addresses
// at debug level, on the UART only.
void dump_current_vmcs(unsigned cpu, const char* why) {
  APEX_LOG(error, "cpu%u: %s: VMCS dump follows (host-state and pointer fields at log=debug)", cpu, why);
  vmx::HardwareVmcs vmcs;
  for (int pass = 0; pass < 2; ++pass) {
    const bool hypervisor_addresses = pass == 1;
    vmx::DumpOptions options;
    options.skip_unreadable = true;  // fields this CPU lacks
    options.supported = in_pass;
    options.supported_ctx = &hypervisor_addresses;
    vmx::dump_vmcs(vmcs, hypervisor_addresses ? log_private_line : log_line, nullptr, options);
  }
}

void dump_guest_gprs(const vmx::GprFile& regs, bool egprs) { vmx::dump_gprs(regs, egprs, log_line, nullptr); }

}  // namespace vmm
