// WRMSR IA32_APIC_BASE (MSR 0x1b) while apexvisor traps the guest's xAPIC writes
// (init_sipi=intercept, issue P6). The trap sits at the xAPIC page's physical address as the
// firmware left it — write-protected in the EPT, or the APIC-access page of APIC-register
// virtualization — so a guest that moved the page would take its APIC writes, INIT and
// STARTUP among them, out of the trap without a word. Such a write is refused with #GP(0) and
// logged: a defined answer instead of APs that silently never start. Every other write
// (x2APIC on or off, the global enable, the BSP flag) reaches the hardware, as do all writes
// when nothing is trapped. No known OS moves the local APIC.
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm::apic {

// The trapped xAPIC page's physical address (page-aligned), 0 when APIC writes are not
// trapped. Set once at boot, before any CPU is launched.
void set_trapped_apic_base(uint64_t base);

// `value`: what the guest writes to IA32_APIC_BASE.
ExitAction handle_apic_base_write(ExitContext& ctx, uint64_t value);

}  // namespace vmm::apic
