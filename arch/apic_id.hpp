// Which local APIC this CPU is: its full (x2APIC) id, as the firmware's MP services report it.
//
// CPUID.1:EBX[31:24] holds only the low 8 bits of the initial APIC id: on a machine with
// more than 255 CPUs (x2APIC ids above 255) several CPUs share them. CPUID leaf 0xB (and
// 0x1F) EDX holds the whole 32-bit x2APIC id, whatever mode the APIC is in (SDM Vol 3A
// 11.12.8.1); a CPU without that leaf has at most 8-bit ids.
#pragma once
#include <stdint.h>

#include "arch/cpu.hpp"

namespace arch {

// Leaf 0xB is implemented when CPUID.0:EAX >= 0xB and its sub-leaf 0 reports a non-zero
// EBX (SDM Vol 2A, CPUID leaf 0BH: "if EBX = 0 the leaf is not supported").
inline bool has_x2apic_id_leaf(uint32_t max_leaf, uint32_t leaf_b_ebx) { return max_leaf >= 0xb && leaf_b_ebx != 0; }

inline uint32_t apic_id_from_cpuid(bool x2apic_id_leaf, uint32_t leaf_b_edx, uint32_t leaf1_ebx) {
  return x2apic_id_leaf ? leaf_b_edx : leaf1_ebx >> 24;
}

// Decided once per boot (every CPU of a machine answers leaf 0 alike), so each call costs
// one CPUID.
inline bool this_machine_has_x2apic_id_leaf() {
  return has_x2apic_id_leaf(cpuid(0).eax, cpuid(0xb, 0).ebx);
}

inline uint32_t this_cpu_apic_id(bool x2apic_id_leaf) {
  return x2apic_id_leaf ? cpuid(0xb, 0).edx : cpuid(1).ebx >> 24;
}

}  // namespace arch
