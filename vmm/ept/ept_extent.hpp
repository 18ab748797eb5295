// How much of the guest-physical address space the EPT maps, and when (issue P9 item 4): all of
// it up to 2^MAXPHYADDR, so that MMIO above RAM — 64-bit PCI BARs of GPUs and NVMe with
// above-4G decoding, mapped by the OS or into a user process (DRM, VFIO) — answers the guest
// as on hardware instead of stopping its CPU at the first access.
//
// The reach: 2^MAXPHYADDR (CPUID.80000008H:EAX[7:0]), within what the walk translates: a
// 4-level walk 2^48, a 5-level one 2^57 (SDM Vol 3C 29.3.2), used when MAXPHYADDR > 48 and
// IA32_VMX_EPT_VPID_CAP[7] offers it. Without it the map stops at 2^48 (`capped`; the log says so).
//
// When: [0, memory_top) — RAM and the MMIO below 4 GiB — at boot, as before. Above it, at boot
// too when that is cheap, else one 1 GiB block at a time on the first EPT violation there
// (EptIdentityMap::map_on_demand). Table pages for eager mapping above memory_top, with the
// default type uniform there (each variable MTRR above RAM adds a page or two):
//
//   MAXPHYADDR  1 GiB pages                        2 MiB pages only
//   39          0 (the low PDPT covers it): eager  508 PDs:               2 MiB: eager
//   46          127 PDPTs:        508 KiB: eager   65,659 PDs+PDPTs:    256 MiB: on demand
//   48          511 PDPTs:          2 MiB: eager   262,651 pages:         1 GiB: on demand
//   52 (5-lvl)  8,206 PDPTs+PML4s: 32 MiB: on demand                           on demand
//
// (memory_top 4 GiB; with more RAM a little less.) So the bound is kEagerHighTablePages (2 MiB)
// at boot; on demand, a block costs at most one table per level above its leaf (a PDPT per new
// 512 GiB, a PML4 per new 256 TiB), taken from the hidden EPT pool, whose exhaustion is answered
// (vmm/handlers/ept_violation.cpp: a UC large page, else the access as on a bus with no device).
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_features.hpp"

namespace vmm::ept {

inline constexpr uint64_t kEagerHighTablePages = 512;  // 2 MiB: covers 2^48 with 1 GiB pages

struct EptExtent {
  unsigned phys_bits = 0;          // MAXPHYADDR (36 when CPUID.80000008H is absent)
  unsigned levels = 4;             // EPT page-walk length
  uint64_t reach = 0;              // the map covers [0, reach): 2^min(MAXPHYADDR, walk width)
  uint64_t eager_end = 0;          // [0, eager_end) at boot, [eager_end, reach) on demand
  bool capped = false;             // MAXPHYADDR > 48 without a 5-level walk: [2^48, 2^MAXPHYADDR) stays unmapped
  uint64_t high_table_pages = 0;   // what eager mapping of [memory_top, reach) would take
  bool on_demand() const { return eager_end < reach; }
};

// memory_top: the end of the eagerly mapped low part (the memory map's top, at least 4 GiB,
// rounded up to 1 GiB); max_phys_bits 0: 36 (SDM Vol 3A 12.11.3).
EptExtent plan_ept_extent(uint8_t max_phys_bits, uint64_t memory_top, const EptFeatures& features);

}  // namespace vmm::ept
