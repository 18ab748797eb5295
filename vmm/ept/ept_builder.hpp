// The guest's EPT view: an identity map of the whole guest-physical address space up to
// 2^MAXPHYADDR, with the memory types of the MTRRs (design.md invariant), from which
// hypervisor memory is then hidden.
//
//   EptIdentityMap ept(allocator);
//   ept.build_identity(mtrrs, eager_end, ept_features(caps), reach);  // once, on the BSP
//   ept.hide(hv_base, hv_size);                                       // every hypervisor region
//   vmcs write EPT_POINTER = ept.eptp().raw;                          // every CPU
//   ept.map_on_demand(virtual_mtrrs, gpa);     // an EPT violation in [mapped_end(), reach())
//
// [0, eager_end) is mapped at once; [eager_end, reach) — MMIO above RAM: 64-bit PCI BARs —
// 1 GiB block by 1 GiB block on the first access (ept_extent.hpp decides where eager ends, and
// why). Large pages are used where the CPU offers them and the MTRR type is uniform over the
// page (1 GiB, else 2 MiB, else 4 KiB); with fixed-range MTRRs enabled, the first 1 MiB uses 4 KiB
// pages. Leaves are RWX with ignore-PAT clear, so the guest's PAT combines with the EPT type
// exactly as it would with the MTRRs (SDM Vol. 3C 29.3.7.2). The walk is 4-level, 5-level when
// reach lies above 2^48 (SDM 29.3.2; EPTP 25.6.11).
//
// Changing a live map: hide() and set_permissions() split large pages (writing the new table
// completely before the 64-bit store that links it) and update entries with single stores, but
// they do not flush: after a successful call the caller runs INVEPT (single-context for eptp(),
// SDM 29.4.3.1) on every CPU that uses the map. Calls must not run concurrently.
// Splits allocate: when the map is live, give it an allocator over a pool that is itself hidden.
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_entry.hpp"
#include "vmm/ept/ept_features.hpp"
#include "vmm/ept/ept_status.hpp"
#include "vmm/ept/memory_type.hpp"
#include "vmm/ept/mtrr.hpp"
#include "vmm/ept/page_allocator.hpp"
#include "vmm/ept/pool_shares.hpp"

namespace vmm::ept {

// What the guest sees at one guest-physical address.
struct EptTranslation {
  bool mapped = false;     // some leaf covers the address (false: EPT violation, nothing there)
  bool present = false;    // the leaf grants any access (29.3.2)
  bool hidden = false;     // hypervisor memory (never present)
  uint64_t hpa = 0;        // host-physical address (the identity when mapped)
  MemoryType type = MemoryType::uc;
  bool ignore_pat = false;
  bool r = false, w = false, x = false;
  uint64_t page_size = 0;  // 4 KiB, 2 MiB or 1 GiB; 0 when not mapped
  unsigned level = 0;      // 1 (PT) .. 3 (PDPT) of the leaf; 0 when not mapped
};

struct EptStats {
  uint64_t table_pages = 0;     // 4 KiB tables taken from the allocator, PML4 included
  uint64_t leaves_1g = 0;       // leaf entries by size, after every split so far
  uint64_t leaves_2m = 0;
  uint64_t leaves_4k = 0;
  uint64_t hidden_pages = 0;    // 4 KiB pages hidden by hide()
  uint64_t conflict_bytes = 0;  // mapped UC because of an undefined MTRR overlap (log it)
  uint64_t on_demand_blocks = 0;       // blocks map_on_demand() mapped
  uint64_t uc_fallback_bytes = 0;      // mapped by map_on_demand() as one UC page: no table to split it
  constexpr uint64_t table_kib() const { return table_pages * 4; }  // "EPT tables: N KiB"
};

class EptIdentityMap {
 public:
  explicit EptIdentityMap(PageAllocator& allocator) : alloc_(&allocator) {}
  EptIdentityMap(const EptIdentityMap&) = delete;
  EptIdentityMap& operator=(const EptIdentityMap&) = delete;

  // Maps [0, max_phys) now (max_phys rounded up to 4 KiB) and lets map_on_demand() map
  // [max_phys, reach) later (reach rounded up to 4 KiB; 0 or below max_phys: max_phys). Neither
  // may exceed 2^MAXPHYADDR of the snapshot (the identity HPA would set reserved bits), nor
  // 2^48 unless features.walk_5level (then 2^57): the walk is 5-level exactly when the reach is
  // above 2^48. Choose max_phys to cover RAM and the MMIO below 4 GiB.
  [[nodiscard]] EptStatus build_identity(const MtrrSnapshot& mtrrs, uint64_t max_phys,
                                         const EptFeatures& features, uint64_t reach = 0);

  // The answer to an EPT violation at `gpa` in [mapped_end(), reach()): maps the 1 GiB block
  // holding it (clipped to that range) with the types `mtrrs` give (the guest's virtual MTRRs
  // now), as build_identity() would have. Entries already there (another CPU came first) are
  // kept; a table a split needs but the allocator cannot give makes that large page UC instead
  // (as retype() does), so only the tables above the block's leaf can run out.
  //   ok: the block is mapped now (`*new_leaves`, may be null, counts what this call added);
  //   not_mapped: gpa lies outside [mapped_end(), reach()) — not this map's to answer;
  //   out_of_memory: no page for a table above the leaf: nothing maps gpa.
  // Live: call it under the same lock as the other updates. No INVEPT is needed: only
  // not-present entries were filled, and the EPT violation itself invalidated what this CPU
  // cached for gpa (SDM 29.4.3.3); other CPUs cache no not-present entry.
  [[nodiscard]] EptStatus map_on_demand(const MtrrSnapshot& mtrrs, uint64_t gpa, uint64_t* new_leaves = nullptr);

  // Makes every 4 KiB page touching [base, base + size) unreachable: large pages covering them
  // are split (the rest keeps its type and rights) and the page entries get R=W=X=0 and the
  // hidden mark. Pages outside the map are already unreachable and are skipped.
  [[nodiscard]] EptStatus hide(uint64_t base, uint64_t size);
  // Where hidden pages point instead of nowhere: a read+execute page of zeros (hpa) that every
  // hidden page maps to. The guest then reads zeros where the hypervisor's memory is — an OS
  // that touches reserved memory (Linux's direct map does) keeps running and still sees
  // nothing of the hypervisor — and an instruction fetch there gets the zero page too (the
  // bytes 00 00, ADD [RAX],AL, as from any page of zeros), while a write still exits (to be
  // discarded: vmm/handlers/hypervisor_memory_write.hpp). 0 (the default): non-present.
  void set_hidden_backing(uint64_t zero_page_hpa) { decoy_ = zero_page_hpa; }

  // Sets the access rights of every 4 KiB page touching [base, base + size), splitting large
  // pages only where the range covers part of them. Refuses (changing nothing) when a page is
  // hidden or unmapped, or when the rights would be an EPT misconfiguration (29.3.3.1: W without
  // R; X alone without the execute-only capability). R=W=X=0 is allowed (no access).
  [[nodiscard]] EptStatus set_permissions(uint64_t base, uint64_t size, bool r, bool w, bool x);

  // Points the hidden 4 KiB page at `gpa` to `sink_hpa` with R+W+X (write-back, still marked
  // hidden), or back to the zero page when `sink_hpa` is 0. For one event delivery whose
  // pushes land in hypervisor memory (vmm/monitor/write_monitor.hpp, delivery sinks): the
  // pushes go to a scratch page instead of exiting again. Refuses a page that is not hidden
  // (hidden_page is the wrong answer there: not_mapped) and does nothing without a decoy.
  // One 64-bit store; no flush (the caller runs INVEPT), not concurrently with the others.
  [[nodiscard]] EptStatus redirect_hidden(uint64_t gpa, uint64_t sink_hpa);
  // The same for a page that is not hidden (the local-APIC page, whose registers an event
  // delivery's pushes must never write: vmm/monitor/write_monitor.hpp, device sinks): the
  // page, split down to a 4 KiB leaf where it is part of a large page (a table from the pool:
  // out_of_memory when there is none), points at `sink_hpa` R+W+X WB; the entry it replaces
  // goes to `*saved` for restore_leaf(), which puts it back. Refuses hidden pages. No flush.
  [[nodiscard]] EptStatus redirect_leaf(uint64_t gpa, uint64_t sink_hpa, uint64_t* saved);
  [[nodiscard]] EptStatus restore_leaf(uint64_t gpa, uint64_t saved);
  // Gives every leaf the memory type `mtrrs` (the guest's virtual MTRRs, after it rewrote
  // them: virtual_mtrrs.hpp) assign to it, as build_identity() would: a large page whose range
  // is no longer one type is split (never merged back: ept_update.cpp says why). When the
  // allocator has no page for such a split, the large page becomes UC instead (always a correct
  // type, MMIO included) and the retype goes on: out of memory is never an error here.
  // Access rights, hidden pages and their decoy are kept. Like hide(): no flush, the caller
  // runs INVEPT on every CPU; not concurrently with the other updates. `out` (may be null)
  // says what changed.
  struct RetypeResult {
    uint64_t changed_leaves = 0;
    uint64_t changed_bytes = 0;
    uint64_t splits = 0;
    uint64_t conflict_bytes = 0;     // now UC because of an undefined MTRR overlap (log it)
    uint64_t uc_fallback_bytes = 0;  // large pages left UC: no table page to split them (log it)
  };
  [[nodiscard]] EptStatus retype(const MtrrSnapshot& mtrrs, RetypeResult* out = nullptr);

  // Walks the tables for `gpa` (tests, EPT-violation diagnostics).
  EptTranslation translate(uint64_t gpa) const;

  // The value for the VMCS EPT pointer: WB tables, 4- or 5-level walk (25.6.11). Set
  // accessed_dirty only if IA32_VMX_EPT_VPID_CAP[21].
  Eptp eptp(bool accessed_dirty = false) const {
    return Eptp::make(pml4_phys_, accessed_dirty, MemoryType::wb, levels_);
  }

  bool built() const { return pml4_ != nullptr; }
  uint64_t pml4_phys() const { return pml4_phys_; }  // the top table: the PML5 with a 5-level walk
  unsigned levels() const { return levels_; }
  uint64_t mapped_end() const { return end_; }  // mapped at build time: [0, mapped_end())
  uint64_t reach() const { return reach_; }     // mapped at build time or on demand: [0, reach())
  const EptStats& stats() const { return stats_; }

  // Whose table pages the next allocations are (pool_shares.hpp): the live map's callers say
  // so for the length of one update (PoolUserScope), under the live map's lock.
  PoolUser pool_user() const { return user_; }
  void set_pool_user(PoolUser u) { user_ = u; }
  const PoolShares& pool_shares() const { return shares_; }

 private:
  enum class Update : uint8_t { check_visible, hide, set_access };

  uint64_t* new_table(uint64_t* phys);
  uint64_t* table_at(uint64_t phys) const;
  EptStatus map_range(uint64_t* table, unsigned level, uint64_t start, uint64_t end);
  bool may_map_large(unsigned level, uint64_t start) const;
  EptStatus split(uint64_t* table, unsigned index, unsigned level);
  EptStatus update(uint64_t* table, unsigned level, uint64_t start, uint64_t end, Update what,
                   uint64_t access);
  EptStatus check_update_range(uint64_t base, uint64_t size, uint64_t* start, uint64_t* end) const;
  EptStatus retype_range(uint64_t* table, unsigned level, uint64_t start, uint64_t end, RetypeResult& r);
  void count_leaf(unsigned level, int64_t n);

  PageAllocator* alloc_;
  const MtrrSnapshot* mtrrs_ = nullptr;  // only during build_identity, map_on_demand and retype
  bool uc_fallback_ = false;             // only during map_on_demand: no table, a UC large page
  EptFeatures features_{};
  uint64_t decoy_ = 0;
  uint64_t* pml4_ = nullptr;
  uint64_t pml4_phys_ = 0;
  uint64_t end_ = 0;
  uint64_t reach_ = 0;
  unsigned levels_ = kLevels4;
  EptStats stats_{};
  PoolShares shares_{};
  PoolUser user_ = PoolUser::boot;
};

// Tags the allocations of one update of the live map with their user, and restores the
// previous one.
class PoolUserScope {
 public:
  PoolUserScope(EptIdentityMap& ept, PoolUser u) : ept_(ept), saved_(ept.pool_user()) { ept.set_pool_user(u); }
  ~PoolUserScope() { ept_.set_pool_user(saved_); }
  PoolUserScope(const PoolUserScope&) = delete;
  PoolUserScope& operator=(const PoolUserScope&) = delete;

 private:
  EptIdentityMap& ept_;
  PoolUser saved_;
};

}  // namespace vmm::ept
