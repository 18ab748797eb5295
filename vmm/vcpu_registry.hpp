// Every virtualized CPU's vCPU, by CPU index, so that code running on one CPU can read
// another's counters (hypercall 1, vmm/hypercall.hpp). Filled once per CPU at launch;
// entries are never removed. Safe to call from several CPUs at once.
#pragma once
#include <stdint.h>

#include "vmm/cpu_limit.hpp"
#include "vmm/vcpu.hpp"

namespace vmm {

// Indexes are CPU numbers as in Vcpu::index (the loader's inventory order), below kMaxCpus.

// Registers `vcpu` under vcpu->index (set it first). False for a null vCPU, an index
// >= kMaxCpus, or an index already taken by another vCPU; registering the same vCPU
// twice is harmless.
bool register_vcpu(Vcpu* vcpu);

// The vCPU registered under `index`, or nullptr.
Vcpu* vcpu_by_index(uint64_t index);

// How many vCPUs are registered.
unsigned vcpu_count();

// Forgets every vCPU. For the unit tests only; the image never unregisters.
void reset_vcpu_registry();

}  // namespace vmm
