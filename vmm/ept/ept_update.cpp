// Changing the live identity map: splitting large pages, hiding pages, setting access rights,
// re-typing after an MTRR change (ept_builder.hpp).
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/ept_table.hpp"

#include "apexvisor_mutation.h"  // tests/mutation/run only

namespace vmm::ept {

// Replaces the large leaf table[index] at `level` (2 or 3) by a table of 512 leaves one level
// down that map the same memory with the same type, rights and marks. The new table is complete
// before the single store that links it, so a concurrent walk sees either the old page or the
// new table. Stale translations remain until the caller's INVEPT.
EptStatus EptIdentityMap::split(uint64_t* table, unsigned index, unsigned level) {
  const EptEntry large = load_entry(table, index);
  uint64_t child_phys = 0;
  uint64_t* child = new_table(&child_phys);
  if (child == nullptr) return EptStatus::out_of_memory;
  const unsigned child_level = level - 1;
  const uint64_t child_span = level_span(child_level);
  const uint64_t base = large.page_address(level);
  const uint64_t flags = (large.raw & ~(ept_bits::kAddressMask | ept_bits::kLargePage)) |
                         (child_level > 1 ? ept_bits::kLargePage : 0);
  for (unsigned i = 0; i < kEntriesPerTable; ++i) child[i] = (base + i * child_span) | flags;
  store_entry(table, index, EptEntry::table(child_phys));
  count_leaf(level, -1);
  count_leaf(child_level, kEntriesPerTable);
  return EptStatus::ok;
}

// Applies `what` to the 4 KiB pages of [start, end) below `table` at `level`.
EptStatus EptIdentityMap::update(uint64_t* table, unsigned level, uint64_t start, uint64_t end,
                                 Update what, uint64_t access) {
  for (const TableSlice& slice : TableSlices(level, start, end)) {
    const auto [index, at, span, lo, hi] = slice;
    const bool whole = slice.whole();
    EptEntry e = load_entry(table, index);
    if (e.raw == 0) {  // outside the map: nothing there to hide, nothing to change
      if (what == Update::hide) continue;
      return EptStatus::not_mapped;
    }
    if (e.is_leaf(level) && level > 1) {
      const bool rights_differ = (e.raw & ept_bits::kAccessMask) != access;
      const bool must_split = what == Update::hide || (what == Update::set_access && !whole && rights_differ);
      if (must_split) {
        const EptStatus s = split(table, index, level);
        if (s != EptStatus::ok) return s;
        e = load_entry(table, index);
      }
    }
    if (!e.is_leaf(level)) {
      const EptStatus s = update(table_at(e.table_address()), level - 1, lo, hi, what, access);
      if (s != EptStatus::ok) return s;
      continue;
    }
    switch (what) {
      case Update::check_visible:
        if (e.hidden()) return EptStatus::hidden_page;
        break;
      case Update::hide:  // level 1 here: every large page was split above
        if (!e.hidden()) {
#ifdef APEXVISOR_MUTATION_HIDDEN_NOT_EXECUTABLE
          constexpr uint64_t kDecoyExecute = 0;
#else
          constexpr uint64_t kDecoyExecute = ept_bits::kExecute;  // a fetch there gets the zero page
#endif
          const EptEntry hidden =
              decoy_ ? EptEntry{(decoy_ & ept_bits::kAddressMask) | ept_bits::kRead | kDecoyExecute |
                                (static_cast<uint64_t>(MemoryType::wb) << ept_bits::kMemoryTypeShift) | ept_bits::kSwHidden}
                     : EptEntry{e.with_access(0).raw | ept_bits::kSwHidden};
          store_entry(table, index, hidden);
          ++stats_.hidden_pages;
        }
        break;
      case Update::set_access:
        if (e.hidden()) return EptStatus::hidden_page;  // checked before; never expose one
        if ((e.raw & ept_bits::kAccessMask) != access) store_entry(table, index, e.with_access(access));
        break;
    }
  }
  return EptStatus::ok;
}

// [base, base + size) widened to 4 KiB pages.
EptStatus EptIdentityMap::check_update_range(uint64_t base, uint64_t size, uint64_t* start,
                                             uint64_t* end) const {
  if (!built()) return EptStatus::not_built;
  if (size == 0 || base + size < base || base + size > ~0ull - (kPageSize - 1)) return EptStatus::invalid_range;
  *start = base & ~(kPageSize - 1);
  *end = (base + size + kPageSize - 1) & ~(kPageSize - 1);
  return EptStatus::ok;
}

EptStatus EptIdentityMap::hide(uint64_t base, uint64_t size) {
  uint64_t start = 0, end = 0;
  const EptStatus s = check_update_range(base, size, &start, &end);
  if (s != EptStatus::ok) return s;
  if (end > end_) end = end_;  // nothing is mapped above the identity map
  if (start >= end) return EptStatus::ok;
  return update(pml4_, levels_, start, end, Update::hide, 0);
}

EptStatus EptIdentityMap::set_permissions(uint64_t base, uint64_t size, bool r, bool w, bool x) {
  // 29.3.3.1: an entry with W=1 and R=0 is a misconfiguration, so is X alone (R=W=0) unless
  // IA32_VMX_EPT_VPID_CAP[0] allows execute-only translations.
  if ((w && !r) || (x && !r && !w && !features_.execute_only)) return EptStatus::invalid_permissions;
  uint64_t start = 0, end = 0;
  EptStatus s = check_update_range(base, size, &start, &end);
  if (s != EptStatus::ok) return s;
  if (end > end_) return EptStatus::not_mapped;
  s = update(pml4_, levels_, start, end, Update::check_visible, 0);  // refuse before changing
  if (s != EptStatus::ok) return s;
  return update(pml4_, levels_, start, end, Update::set_access, ept_access(r, w, x));
}

EptStatus EptIdentityMap::redirect_hidden(uint64_t gpa, uint64_t sink_hpa) {
  if (!built()) return EptStatus::not_built;
  if (!decoy_ || gpa >= end_) return EptStatus::not_mapped;
  uint64_t* table = pml4_;
  for (unsigned level = levels_; level >= 1; --level) {
    const unsigned index = level_index(gpa, level);
    const EptEntry e = load_entry(table, index);
    if (e.raw == 0) return EptStatus::not_mapped;
    if (!e.is_leaf(level)) {
      table = table_at(e.table_address());
      continue;
    }
    if (level != 1 || !e.hidden()) return EptStatus::not_mapped;  // hide() leaves 4 KiB pages only
    const uint64_t wb = static_cast<uint64_t>(MemoryType::wb) << ept_bits::kMemoryTypeShift;
    const EptEntry to = sink_hpa ? EptEntry{(sink_hpa & ept_bits::kAddressMask) | ept_bits::kRead |
                                            ept_bits::kWrite | ept_bits::kExecute | wb | ept_bits::kSwHidden}
                                 : EptEntry{(decoy_ & ept_bits::kAddressMask) | ept_bits::kRead |
                                            ept_bits::kExecute | wb | ept_bits::kSwHidden};
    store_entry(table, index, to);
    return EptStatus::ok;
  }
  return EptStatus::not_mapped;
}

EptStatus EptIdentityMap::redirect_leaf(uint64_t gpa, uint64_t sink_hpa, uint64_t* saved) {
  if (!built()) return EptStatus::not_built;
  if (gpa >= end_ || !sink_hpa) return EptStatus::not_mapped;
  uint64_t* table = pml4_;
  for (unsigned level = levels_; level >= 1; --level) {
    const unsigned index = level_index(gpa, level);
    EptEntry e = load_entry(table, index);
    if (e.raw == 0) return EptStatus::not_mapped;
    if (e.is_leaf(level) && level > 1) {  // a large page: split it, keeping its type and rights
      const EptStatus st = split(table, index, level);
      if (st != EptStatus::ok) return st;
      e = load_entry(table, index);
    }
    if (level > 1) {
      table = table_at(e.table_address());
      continue;
    }
    if (e.hidden()) return EptStatus::hidden_page;  // redirect_hidden's, never this
    const uint64_t wb = static_cast<uint64_t>(MemoryType::wb) << ept_bits::kMemoryTypeShift;
    *saved = e.raw;
    store_entry(table, index,
                EptEntry{(sink_hpa & ept_bits::kAddressMask) | ept_bits::kRead | ept_bits::kWrite | ept_bits::kExecute | wb});
    return EptStatus::ok;
  }
  return EptStatus::not_mapped;
}

EptStatus EptIdentityMap::restore_leaf(uint64_t gpa, uint64_t saved) {
  if (!built()) return EptStatus::not_built;
  if (gpa >= end_) return EptStatus::not_mapped;
  uint64_t* table = pml4_;
  for (unsigned level = levels_; level >= 1; --level) {
    const unsigned index = level_index(gpa, level);
    const EptEntry e = load_entry(table, index);
    if (e.raw == 0 || (e.is_leaf(level) && level > 1)) return EptStatus::not_mapped;
    if (level > 1) {
      table = table_at(e.table_address());
      continue;
    }
    store_entry(table, index, EptEntry{saved});
    return EptStatus::ok;
  }
  return EptStatus::not_mapped;
}

// The type rule is build_identity's (map_range): one type over a leaf's whole span, else a
// smaller page. Only leaves whose span lies in [start, end) exist above level 1, as built.
// A large page that needs a split when the allocator has no page left keeps its size and
// becomes UC: the strongest type, right for any memory (MMIO included), only slower for RAM
// (SDM Vol 3A Table 12-2). The retype goes on; the bytes are counted (uc_fallback_bytes), and
// a later retype that finds the range uniform again gives it its type back.
//
// Split tables are never merged back into a large leaf, even when a later layout makes all 512
// entries uniform again: a merge only pays if the unlinked table page can go back to the pool,
// and reuse is not safe here. Other CPUs may still hold paging-structure-cache entries that
// point at the unlinked table (SDM Vol 3C 29.4.2) until each of them runs INVEPT, and nothing
// makes them do so (only the CPU that writes an MTRR invalidates, mtrr_resync.hpp); a page
// reused as another table would then translate their accesses through foreign entries, which
// could reach hypervisor memory. A merge without reuse would keep the page and spend a new one
// on the next split, draining the pool faster.
EptStatus EptIdentityMap::retype_range(uint64_t* table, unsigned level, uint64_t start, uint64_t end,
                                       RetypeResult& r) {
  for (const TableSlice& slice : TableSlices(level, start, end)) {
    const auto [index, at, span, lo, hi] = slice;
    EptEntry e = load_entry(table, index);
    if (e.raw == 0) continue;
    if (!e.is_leaf(level)) {
      const EptStatus s = retype_range(table_at(e.table_address()), level - 1, lo, hi, r);
      if (s != EptStatus::ok) return s;
      continue;
    }
    if (e.hidden()) continue;  // hypervisor memory: it keeps the decoy's mapping
    MemoryType type = MemoryType::uc;
    bool conflict = false;
    const bool uniform = level == 1 ? (type = memory_type(*mtrrs_, at, &conflict), true)
                                    : range_type(*mtrrs_, at, span, &type, &conflict);
    if (!uniform) {
      const EptStatus s = split(table, index, level);
      if (s == EptStatus::out_of_memory) {
        if (e.memory_type() != MemoryType::uc) {
          constexpr uint64_t kUc = static_cast<uint64_t>(MemoryType::uc) << ept_bits::kMemoryTypeShift;
          store_entry(table, index, EptEntry{(e.raw & ~ept_bits::kMemoryTypeMask) | kUc});
          ++r.changed_leaves;
          r.changed_bytes += span;
        }
        r.uc_fallback_bytes += span;
        continue;
      }
      if (s != EptStatus::ok) return s;
      ++r.splits;
      const EptStatus c = retype_range(table_at(load_entry(table, index).table_address()), level - 1, lo, hi, r);
      if (c != EptStatus::ok) return c;
      continue;
    }
    if (e.memory_type() != type) {
      store_entry(table, index,
                  EptEntry{(e.raw & ~ept_bits::kMemoryTypeMask) |
                           (static_cast<uint64_t>(type) << ept_bits::kMemoryTypeShift)});
      ++r.changed_leaves;
      r.changed_bytes += span;
    }
    if (conflict) r.conflict_bytes += span;
  }
  return EptStatus::ok;
}

EptStatus EptIdentityMap::retype(const MtrrSnapshot& mtrrs, RetypeResult* out) {
  if (!built()) return EptStatus::not_built;
  RetypeResult r;
  mtrrs_ = &mtrrs;
  // Over the whole reach: blocks mapped on demand are re-typed too (unmapped ones are skipped).
  const EptStatus s = retype_range(pml4_, levels_, 0, reach_, r);
  mtrrs_ = nullptr;
  if (out) *out = r;
  return s;
}

}  // namespace vmm::ept
