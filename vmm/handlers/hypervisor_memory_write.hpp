// A guest write into hypervisor memory (a page the EPT hides: the image's runtime copy,
// stacks, tables, VMX pages, log ring): discarded, as a write to ROM is, counted, and the
// guest goes on (issue P8: "reads return zeros; a write is discarded and counted").
//
// The hidden pages map to one read-only page of zeros, so reads need nothing; a write exits
// as an EPT violation. The instruction is emulated against the routed guest-memory view
// (GuestPolicy::guest_ram, vmm/guest_memory/guest_phys_view.hpp), in which hypervisor pages
// read as zeros and swallow writes — the same answer every emulated instruction gets there,
// whichever exit emulates it — so its other effects (registers, flags, writes to ordinary
// memory, to watched pages, to the APIC page) happen as on hardware. Each discarded write is
// counted (Vcpu::hypervisor_writes_discarded); an instruction the emulator cannot do is skipped
// as a whole and counts as one. The first discarded write of each CPU is logged, without its
// address (the log ring is readable by hypercall).
#pragma once
#include "vmm/exit_context.hpp"
#include "vmm/exit_action.hpp"

namespace vmm {

// The EPT violation handler's answer to a write into hypervisor memory.
ExitAction discard_hypervisor_memory_write(ExitContext& ctx);

// The answer when the write is an event delivery's push (the guest's stack lies in hypervisor
// memory; ExitContext::event_delivery, the event injected again already): as with ROM, the
// pushes are discarded and the delivery completes — the page is a per-CPU sink for exactly
// the delivery, single-stepped by the write monitor's step mechanism
// (WriteMonitor::sink_delivery_write says what other CPUs can see meanwhile), then hidden
// again; the discarded write is counted and logged like the others. The handler runs with a
// frame that reads as zeros afterwards (an IRET through it faults, as through ROM would).
ExitAction deliver_into_hypervisor_memory(ExitContext& ctx, uint64_t gpa);

}  // namespace vmm
