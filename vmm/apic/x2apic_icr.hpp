// init_sipi=intercept in x2APIC mode (issue P6): the ICR is MSR 0x830 (SDM Vol 3A 11.12.9),
// whose writes exit through the MSR bitmap (vmm/msr_policy.def). INIT and STARTUP are
// emulated as for the xAPIC page (ap_intercept.hpp); every other IPI, and every IPI in
// native mode, is written to the real MSR unchanged.
#pragma once
#include "vmm/apic/ap_start.hpp"
#include "vmm/exit_context.hpp"

namespace vmm::apic {

// The topology the x2APIC path resolves destinations with (set once at boot; nullptr: the
// intercept is off and writes pass through).
void set_x2apic_topology(ApicTopology* topo);

// WRMSR 0x830 from the guest: returns the action (advance, or #GP when the real write faults).
ExitAction handle_x2apic_icr_write(ExitContext& ctx, uint64_t value);

}  // namespace vmm::apic
