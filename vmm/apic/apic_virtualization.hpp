// What the CPU offers for virtualizing the local APIC (issue P6), and why apexvisor does not
// use it. APIC-access / APIC-register virtualization and virtual-interrupt delivery are made
// for a hypervisor that emulates the APIC: with them, guest reads of the APIC page (IRR, ISR,
// TMR, ESR, PPR, the LVTs...) are answered from a virtual-APIC page in memory, not by the real
// APIC (SDM Vol 3C 30.4-30.5), and "use TPR shadow" keeps guest TPR/CR8 writes away from the
// real TPR. apexvisor passes the local APIC through — interrupts arrive at the real APIC and
// are delivered without exits — so those reads must come from the hardware. It traps only
// writes (the xAPIC page read-only in the EPT, the x2APIC ICR MSR in the MSR bitmap), the
// design ACRN's LAPIC pass-through follows as well; bench/results.md measures what a trapped
// write costs. This file only reports the offer at boot, so a user can see what was left out.
#pragma once
#include <stddef.h>

#include "vmx/capabilities.hpp"

namespace vmm::apic {

// "virtualize-APIC-accesses, APIC-register virtualization, ..." (the secondary controls the
// CPU allows, in the SDM's order), or "none". Returns the length written (NUL excluded).
size_t describe_apic_virtualization(const vmx::VmxCapabilities& caps, char* out, size_t size);

}  // namespace vmm::apic
