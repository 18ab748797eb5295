// Whether apexvisor uses the CPU's APIC virtualization (config apic_virt=, issue P6), and
// what the CPU offers, for the boot log.
//
// It is used to trap the guest's xAPIC writes when they must be seen (init_sipi=intercept)
// and the CPU offers "use TPR shadow", "virtualize APIC accesses" and "APIC-register
// virtualization" (plus CR8-load/-store exiting): the CPU then reports each write as an
// APIC-write exit naming the register, with no instruction to decode (virtual_apic.hpp
// describes the whole scheme and what it costs a passed-through APIC). Otherwise the xAPIC
// page is write-protected in the EPT and the writing instruction is decoded
// (apic_page_intercept.hpp). Virtual-interrupt delivery and posted interrupts are never
// used: they deliver interrupts the hypervisor injects, and apexvisor injects none — the
// guest's interrupts come straight from the real APIC.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmx/capabilities.hpp"
#include "vmx/controls.hpp"

namespace vmm::apic {

// The controls apic_virt sets (SDM Vol 3C 25.6.2).
inline constexpr uint32_t kApicVirtProcControls =
    vmx::proc::use_tpr_shadow | vmx::proc::cr8_load_exiting | vmx::proc::cr8_store_exiting;
inline constexpr uint32_t kApicVirtProc2Controls =
    vmx::proc2::virtualize_apic_accesses | vmx::proc2::apic_register_virtualization;

struct ApicVirtChoice {
  bool use;
  const char* why;  // for the boot log
};

// `wanted`: config apic_virt is not off. `writes_trapped`: init_sipi=intercept, so the
// guest's APIC writes must exit one way or the other. `nested`: apexvisor runs under another
// hypervisor (CPUID.1:ECX[31]). There the EPT trap is chosen: the APIC-access address is the
// xAPIC page, which to the outer hypervisor is MMIO, and KVM's nested VMX requires it to be
// backed by guest memory (KVM commit 671ddc700fd0, "nVMX: Don't leak L1 MMIO regions to
// L2": VM entry of the nested guest then ends in an internal error).
ApicVirtChoice choose_apic_virtualization(const vmx::VmxCapabilities& caps, bool wanted, bool writes_trapped,
                                          bool nested);

// "virtualize-APIC-accesses, APIC-register virtualization, ..." (the controls the CPU
// allows, in the SDM's order), or "none". Returns the length written (NUL excluded).
size_t describe_apic_virtualization(const vmx::VmxCapabilities& caps, char* out, size_t size);

}  // namespace vmm::apic
