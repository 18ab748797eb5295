// The four PDPTEs of PAE paging, loaded as MOV to CR0/CR4 loads them (SDM Vol 3A 4.4.1).
//
// Why here: with EPT the processor takes the PDPTEs from the VMCS at VM entry (Vol 3C
// 27.3.2.4), so when apexvisor emulates a MOV to CR0/CR4 that enters PAE paging or changes
// CR0.CD/NW/PG or CR4.PAE/PGE/PSE/SMEP under it, it must load them itself, from the guest's
// CR3, with the checks the instruction makes. (MOV to CR3 never exits: the CPU loads them.)
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm {

enum class PdpteLoad : uint8_t {
  loaded,    // the four VMCS PDPTE fields hold the new entries
  gp,        // a present PDPTE sets a reserved bit: #GP(0), nothing loaded
  no_memory, // no guest-memory view to read them from (tests without one)
  vmwrite_failed,
};

// Reserved bits of a present PAE PDPTE (Vol 3A Table 4-8): 2:1, 8:5 and 63:MAXPHYADDR.
// `max_phys_bits` 0 means not known: 52, the architectural maximum.
uint64_t pdpte_reserved_mask(uint8_t max_phys_bits);

// Reads the PDPT at CR3[31:5] through the guest-memory view (hypervisor memory reads as zeros;
// what is not memory at all reads as all ones, as from no device) and loads it into the VMCS.
PdpteLoad load_pae_pdptes(ExitContext& ctx);

}  // namespace vmm
