// Reading and writing entries of a live EPT table. The processor may walk a table while the
// hypervisor changes it, so every entry is read and written with one aligned 64-bit access
// (SDM Vol. 3A 9.1.1: such accesses are atomic); a new table is filled before it is linked.
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_entry.hpp"

namespace vmm::ept {

inline EptEntry load_entry(const uint64_t* table, unsigned index) {
  return EptEntry{__atomic_load_n(&table[index], __ATOMIC_RELAXED)};
}

inline void store_entry(uint64_t* table, unsigned index, EptEntry e) {
  __atomic_store_n(&table[index], e.raw, __ATOMIC_RELEASE);
}

// The entries of one table at `level` that [start, end) touches, in address order, for the
// walks that build or change the map: `for (const TableSlice& e : TableSlices(level, start,
// end))`. Each gives the entry's index, the start of its span, and the part [lo, hi) of the
// range that falls inside it (whole: all of the span).
struct TableSlice {
  unsigned index;
  uint64_t at, span, lo, hi;
  bool whole() const { return lo == at && hi == at + span; }
};

class TableSlices {
 public:
  TableSlices(unsigned level, uint64_t start, uint64_t end)
      : level_(level), span_(level_span(level)), start_(start), end_(end) {}

  class Iterator {
   public:
    Iterator(const TableSlices& r, uint64_t at) : r_(r), at_(at) {}
    TableSlice operator*() const {
      return {level_index(at_, r_.level_), at_, r_.span_, at_ < r_.start_ ? r_.start_ : at_,
              r_.end_ - at_ < r_.span_ ? r_.end_ : at_ + r_.span_};
    }
    Iterator& operator++() {
      at_ += r_.span_;
      return *this;
    }
    bool operator!=(const Iterator& o) const { return at_ < o.at_; }

   private:
    const TableSlices& r_;
    uint64_t at_;
  };
  Iterator begin() const { return {*this, start_ & ~(span_ - 1)}; }
  Iterator end() const { return {*this, end_}; }

 private:
  unsigned level_;
  uint64_t span_, start_, end_;
};

}  // namespace vmm::ept
