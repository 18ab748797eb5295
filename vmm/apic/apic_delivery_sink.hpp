// The answer to an event delivery that pushes its frame onto the local-APIC page (the guest's
// RSP there), whichever way the page is trapped: an EPT violation on the write-protected page
// (ApicPageIntercept::on_event_delivery) or an APIC-access exit of type "access during event
// delivery" under APIC virtualization (vmm/handlers/apic_virtualization.cpp). The dispatcher
// has injected the event again; the pushes are discarded through this CPU's sink page for
// exactly the delivery (vmm/monitor/write_monitor.hpp, sink_apic_delivery), so no APIC
// register is ever written by a push, and the CPU goes on. Without the monitor's step
// mechanism (no MTF, no preemption timer) the CPU stops with the reason.
#pragma once
#include "vmm/exit_context.hpp"

namespace vmm::apic {

ExitAction sink_apic_delivery(ExitContext& ctx, uint64_t gpa);

}  // namespace vmm::apic
