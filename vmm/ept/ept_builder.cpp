// Building the identity map (ept_builder.hpp).
#include "vmm/ept/ept_builder.hpp"

#include "vmm/ept/ept_table.hpp"

namespace vmm::ept {

uint64_t* EptIdentityMap::new_table(uint64_t* phys) {
  if (!shares_.may_take(user_)) return nullptr;  // this user's share is spent: as an empty pool
  void* page = alloc_->alloc_zeroed_page();
  if (page == nullptr) return nullptr;
  shares_.took(user_);
  *phys = alloc_->phys_of(page);
  ++stats_.table_pages;
  return static_cast<uint64_t*>(page);
}

uint64_t* EptIdentityMap::table_at(uint64_t phys) const {
  return static_cast<uint64_t*>(alloc_->virt_of(phys));
}

void EptIdentityMap::count_leaf(unsigned level, int64_t n) {
  uint64_t* counter = level == 3 ? &stats_.leaves_1g : level == 2 ? &stats_.leaves_2m : &stats_.leaves_4k;
  *counter += static_cast<uint64_t>(n);
}

// A PDPTE may map 1 GiB only with EPT_VPID_CAP[17], a PDE 2 MiB only with [16] (29.3.2).
// The fixed-range MTRRs type the first 1 MiB in pieces down to 4 KiB; SDM Vol. 3A 12.11.9 keeps
// large pages away from it (processors break such pages into 4 KiB TLB entries anyway), so the
// first 2 MiB use 4 KiB pages whenever the fixed ranges are on, whatever their types.
bool EptIdentityMap::may_map_large(unsigned level, uint64_t start) const {
  if (level == 3 && !features_.pages_1g) return false;
  if (level == 2 && !features_.pages_2m) return false;
  if (level != 2 && level != 3) return false;
  return !(mtrrs_->fixed_enabled() && start < kFixedRangeEnd);
}

// Maps [start, end) through `table` at `level`: a leaf for every entry whose whole span lies in
// the range and has one memory type, a new next-level table for the others. Entries already
// there are kept (map_on_demand: a neighbouring block, or another CPU's) and tables descended.
EptStatus EptIdentityMap::map_range(uint64_t* table, unsigned level, uint64_t start, uint64_t end) {
  for (const TableSlice& slice : TableSlices(level, start, end)) {
    const auto [index, at, span, lo, hi] = slice;
    const bool whole = slice.whole();
    const EptEntry existing = load_entry(table, index);
    if (existing.raw != 0) {
      if (existing.is_leaf(level)) continue;
      const EptStatus s = map_range(table_at(existing.table_address()), level - 1, lo, hi);
      if (s != EptStatus::ok) return s;
      continue;
    }
    MemoryType type = MemoryType::uc;
    bool conflict = false;
    if (level == 1) {
      type = memory_type(*mtrrs_, at, &conflict);
    } else if (!(whole && may_map_large(level, at) && range_type(*mtrrs_, at, span, &type, &conflict))) {
      uint64_t child_phys = 0;
      uint64_t* child = new_table(&child_phys);
      if (child == nullptr) {
        // On demand, out of table pages: a large page that only needed splitting for its
        // types becomes one UC page (right for any memory, MMIO included; SDM Vol 3A Table
        // 12-2), as retype() does. The tables above a leaf have no such way out.
        if (!(uc_fallback_ && whole && may_map_large(level, at))) return EptStatus::out_of_memory;
        store_entry(table, index, EptEntry::leaf(at, level, MemoryType::uc, ept_bits::kAccessMask));
        count_leaf(level, 1);
        stats_.uc_fallback_bytes += span;
        continue;
      }
      const EptStatus s = map_range(child, level - 1, lo, hi);
      store_entry(table, index, EptEntry::table(child_phys));
      if (s != EptStatus::ok) return s;
      continue;
    }
    store_entry(table, index, EptEntry::leaf(at, level, type, ept_bits::kAccessMask));
    count_leaf(level, 1);
    if (conflict) stats_.conflict_bytes += span;
  }
  return EptStatus::ok;
}

EptStatus EptIdentityMap::build_identity(const MtrrSnapshot& mtrrs, uint64_t max_phys,
                                         const EptFeatures& features, uint64_t reach) {
  if (built()) return EptStatus::already_built;
  if (max_phys == 0 || max_phys > ~0ull - (kPageSize - 1) || reach > ~0ull - (kPageSize - 1))
    return EptStatus::invalid_range;
  const uint64_t end = (max_phys + kPageSize - 1) & ~(kPageSize - 1);
  uint64_t top = (reach + kPageSize - 1) & ~(kPageSize - 1);
  if (top < end) top = end;
  // The shortest walk that translates the whole reach (29.3.2): 4 levels up to 2^48, else 5.
  const unsigned levels = top <= walk_reach(kLevels4) ? kLevels4 : kLevels5;
  if (top > walk_reach(levels) || (levels == kLevels5 && !features.walk_5level)) return EptStatus::beyond_guest_width;
  if (mtrrs.max_phys_bits < 64 && top > (1ull << mtrrs.max_phys_bits)) return EptStatus::beyond_maxphyaddr;
  features_ = features;
  mtrrs_ = &mtrrs;
  uint64_t phys = 0;
  uint64_t* pml4 = new_table(&phys);
  if (pml4 == nullptr) {
    mtrrs_ = nullptr;
    return EptStatus::out_of_memory;
  }
  pml4_ = pml4;
  pml4_phys_ = phys;
  levels_ = levels;
  end_ = end;
  reach_ = top;
  const EptStatus s = map_range(pml4_, levels_, 0, end);
  mtrrs_ = nullptr;
  return s;
}

EptStatus EptIdentityMap::map_on_demand(const MtrrSnapshot& mtrrs, uint64_t gpa, uint64_t* new_leaves) {
  if (new_leaves) *new_leaves = 0;
  if (!built()) return EptStatus::not_built;
  if (gpa < end_ || gpa >= reach_) return EptStatus::not_mapped;
  constexpr uint64_t kBlock = 1ull << 30;
  uint64_t lo = gpa & ~(kBlock - 1), hi = lo + kBlock;
  if (lo < end_) lo = end_;
  if (hi > reach_) hi = reach_;
  const EptStats before = stats_;
  mtrrs_ = &mtrrs;
  uc_fallback_ = true;
  const EptStatus s = map_range(pml4_, levels_, lo, hi);
  uc_fallback_ = false;
  mtrrs_ = nullptr;
  const uint64_t added = (stats_.leaves_1g - before.leaves_1g) + (stats_.leaves_2m - before.leaves_2m) +
                         (stats_.leaves_4k - before.leaves_4k);
  if (added) ++stats_.on_demand_blocks;
  if (new_leaves) *new_leaves = added;
  return s;
}

}  // namespace vmm::ept
