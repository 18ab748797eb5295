// The guest's view of CPUID: the CPUID exit handler executes CPUID on the host and passes the
// result through filter_cpuid, which turns host facts into what this guest may see.
//
// What it changes (everything else passes through):
//   1:ECX            hypervisor-present (31) set; VMX (5) and SMX (6) cleared (no nested VMX);
//                    OSXSAVE (27) = guest CR4.OSXSAVE (the host runs with its own CR4);
//                    DTES64 (2), DS-CPL (4) cleared with
//   1:EDX            DS (21): the debug store (BTS, PEBS) would write records to a
//                    guest-chosen address, also while the CPU runs apexvisor; its MSRs #GP
//                    (vmm/msr_policy.def).
//   7.0              EAX (max subleaf) >= 1 when APX is exposed; EBX MPX (14) cleared when MPX
//                    state is not offered; EBX Intel PT (25) cleared (PT writes trace data to
//                    physical addresses: its MSRs #GP); ECX OSPKE (4) = guest CR4.PKE.
//   6:EAX            HFI (19) and Thread Director (23) cleared: the package writes the HFI
//                    table to a guest-given physical address (its MSRs #GP).
//   14h              Intel PT's leaf: all zero.
//   23h              architectural performance monitoring extensions (architectural PEBS,
//                    whose buffer is a physical address): all zero.
//   7.1:EDX          APX_F (21) = policy.expose_apx.
//   0Dh.0            EDX:EAX = policy.guest_supported_xcr0 (so bit 19 iff APX is exposed);
//                    ECX = standard-format size of all of those components;
//                    EBX = standard-format size of the guest's *current* XCR0, computed from
//                    the shadow (guest.xcr0) rather than trusted from the host: it is the
//                    same value as long as the guest's XCR0 is what is loaded (VMX never
//                    switches XCR0, design.md), and tests can check it.
//   0Dh.1            passes through (XSAVEOPT/XSAVEC/XSAVES flags; EBX there depends on
//                    XCR0|IA32_XSS and is left to hardware), except ECX bit 8 (PT in IA32_XSS)
//                    cleared; 0Dh.8 (the PT component) all zero.
//   0Dh.n, n >= 2    user components the guest is not offered read as all zero (MPX's 3/4
//                    when APX is exposed, APX's 19 when hidden); 19 reads EAX=128 (size),
//                    EBX=960 (offset) from the host when exposed. Supervisor components
//                    (ECX[0]=1) pass through.
//   29h              hidden: all zero. Exposed: subleaf 0 EAX = 0 (highest subleaf: only 0 is
//                    known), EBX = APX_NCI_NDD_NF (bit 0) if the host has it, ECX=EDX=0;
//                    other subleaves zero. (KVM v2 15/16 passes 29h only with APX.)
//   40000000h        EAX = 40000001h (highest hypervisor leaf), EBX:ECX:EDX = "apexvisor\0\0\0".
//   40000001h        EAX = interface version; EBX..EDX = 0.
//   40000002h..4FFFFFFFh  all zero (the host's values there are meaningless).
#pragma once
#include <stdint.h>

#include "arch/cpu.hpp"
#include "vmm/policy/apx_policy.hpp"
#include "vmm/policy/cpuid_bits.hpp"

namespace vmm::policy {

using CpuidRegs = arch::CpuidRegs;  // what arch::cpuid() returns

// The guest state CPUID reflects: its XCR0 (the vCPU's shadow) and CR4 as the guest sees it
// (the read shadow for bits the hypervisor owns, the real CR4 for the others: OSXSAVE and
// PKE are the guest's own, changed without an exit).
struct GuestXstateView {
  uint64_t xcr0;
  uint64_t cr4;
};

// 12-byte signature in EBX, ECX, EDX of leaf 40000000h, little-endian, NUL-padded.
inline constexpr char kHypervisorSignature[12] = {'a', 'p', 'e', 'x', 'v', 'i', 's', 'o', 'r', 0, 0, 0};
inline constexpr uint32_t kHypervisorMaxLeaf = 0x40000001;
// Leaf 40000001h EAX: bumped when the guest-visible interface (leaves, hypercalls) changes.
inline constexpr uint32_t kHypervisorInterfaceVersion = 1;

void filter_cpuid(uint32_t leaf, uint32_t subleaf, CpuidRegs& regs, const ApxPolicy& policy,
                  const GuestXstateView& guest);

// Whether filter_cpuid can change anything for `leaf` (the leaves listed above); for every
// other leaf the host's answer passes through as it is, and the CPUID exit handler skips
// the call (tests/unit/vmm/cpuid_filter_test.cpp checks that the two agree).
constexpr bool cpuid_leaf_filtered(uint32_t leaf) {
  return leaf == cpuid::kLeafFeatures || leaf == cpuid::kLeafThermalPower || leaf == cpuid::kLeafStructuredExt ||
         leaf == cpuid::kLeafXsave || leaf == cpuid::kLeafProcessorTrace || leaf == cpuid::kLeafPerfmonExt ||
         leaf == cpuid::kLeafApx || (leaf >= cpuid::kLeafHypervisorFirst && leaf <= cpuid::kLeafHypervisorLast);
}

// Whether filter_cpuid reads guest.cr4 for `leaf` (1: OSXSAVE, 7: OSPKE); for every other
// leaf the result does not depend on it. The CPUID exit handler reads the CR4 read shadow
// only for these leaves (one VMREAD fewer per CPUID exit); a filter rule that starts to use
// CR4 for another leaf must be added here (tests/unit/vmm/cpuid_filter_test.cpp checks it).
constexpr bool cpuid_filter_reads_cr4(uint32_t leaf) {
  return leaf == cpuid::kLeafFeatures || leaf == cpuid::kLeafStructuredExt;
}

}  // namespace vmm::policy
