// The CPUID exit's body, a template over the host operations: the table's handler
// (handle_cpuid, cpuid.cpp) runs it through HostOps, the exit path (vmm/launch/exit_entry.cpp)
// on the image's final HardwareHostOps, where CPUID itself is inlined into the exit path —
// CPUID is the exit most guests take most often, so it skips the handler table's indirect
// call too. Both run the same code.
#pragma once
#include "apexvisor_mutation.h"  // tests/mutation/run only
#include "vmm/exit_context.hpp"
#include "vmm/policy/cpuid_filter.hpp"

namespace vmm {

// The leaves the guest policy changes (policy::cpuid_leaf_filtered), out of line: most CPUID
// leaves pass through, and their exits need neither the policy nor the guest's CR4.
void cpuid_filter_for_guest(ExitContext& ctx);

template <class Host>
[[gnu::always_inline]] inline ExitAction cpuid_exit(ExitContext& ctx, Vcpu& vcpu, Host& host) {
  vmx::GprFile& regs = vcpu.regs;
  // Every other leaf passes through: the host's CPUID writes the guest's registers itself.
  if (policy::cpuid_leaf_filtered(static_cast<uint32_t>(regs.gpr[0]))) cpuid_filter_for_guest(ctx);
  else host.cpuid_into(regs);
#ifdef APEXVISOR_MUTATION_CPUID_NO_RIP_ADVANCE
  return ExitAction::resume();
#endif
  return ExitAction::advance();
}

}  // namespace vmm
