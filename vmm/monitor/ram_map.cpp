#include "vmm/monitor/ram_map.hpp"

namespace vmm::monitor {

bool RamMap::add(uint64_t base, uint64_t size) {
  if (size == 0 || base + size < base) return false;
  uint64_t lo = base, hi = base + size;
  // Ranges [first, last) of the table touch or overlap [lo, hi): they merge into one.
  unsigned first = 0;
  while (first < count_ && ranges_[first].end < lo) ++first;
  unsigned last = first;
  while (last < count_ && ranges_[last].base <= hi) {
    if (ranges_[last].base < lo) lo = ranges_[last].base;
    if (ranges_[last].end > hi) hi = ranges_[last].end;
    ++last;
  }
  const unsigned merged = last - first;
  if (merged == 0) {
    if (count_ == kMaxRanges) return false;
    for (unsigned i = count_; i > first; --i) ranges_[i] = ranges_[i - 1];
    ++count_;
  } else {
    for (unsigned i = last; i < count_; ++i) ranges_[i - merged + 1] = ranges_[i];
    count_ -= merged - 1;
  }
  ranges_[first] = {lo, hi};
  return true;
}

bool RamMap::add_uefi_descriptor(uint32_t type, uint64_t base, uint64_t pages) {
  // EFI_MEMORY_TYPE (UEFI 2.10 Table 7-6): 1 LoaderCode, 2 LoaderData, 3 BootServicesCode,
  // 4 BootServicesData, 5 RuntimeServicesCode, 6 RuntimeServicesData, 7 ConventionalMemory,
  // 9 ACPIReclaimMemory, 10 ACPIMemoryNVS, 14 PersistentMemory. Not RAM: 0 Reserved,
  // 8 Unusable, 11 MemoryMappedIO, 12 MemoryMappedIOPortSpace, 13 PalCode, 15 Unaccepted.
  switch (type) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 10: case 14: break;
    default: return false;
  }
  if (pages == 0 || pages > (~0ull >> 12)) return false;
  return add(base, pages << 12);
}

bool RamMap::contains(uint64_t base, uint64_t size) const {
  if (size == 0 || base + size < base) return false;
  const uint64_t end = base + size;
  // Ranges are merged when adjacent, so the whole span must lie in one of them.
  for (unsigned i = 0; i < count_; ++i)
    if (ranges_[i].base <= base && end <= ranges_[i].end) return true;
  return false;
}

}  // namespace vmm::monitor
