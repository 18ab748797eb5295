// Which guest-physical ranges are RAM, for the EPT write monitor's refusals (issue P4): the
// identity EPT also maps MMIO and holes, which the monitor must not write-protect (a watched
// MMIO page would have its writes "emulated" into memory that is not there). The loader fills
// it from the UEFI memory map (UEFI 2.10 section 7.2, EFI_MEMORY_TYPE) before any CPU launches;
// read-only afterwards.
#pragma once
#include <stdint.h>

namespace vmm::monitor {

class RamMap {
 public:
  static constexpr unsigned kMaxRanges = 128;

  // Adds [base, base + size), merged with the ranges it touches or overlaps. False when the
  // table is full (the range is then not RAM as far as the monitor knows: a refusal, never a
  // false acceptance) or the range is empty or wraps.
  bool add(uint64_t base, uint64_t size);

  // One UEFI memory descriptor: added when its type is memory the OS may use as RAM
  // (loader/boot-services/runtime-services code and data, conventional, ACPI reclaim and NVS,
  // persistent memory); reserved, unusable and MMIO types are skipped. True when added.
  bool add_uefi_descriptor(uint32_t type, uint64_t base, uint64_t pages);

  // Every byte of [base, base + size) is RAM (size > 0, no wrap).
  bool contains(uint64_t base, uint64_t size) const;

  unsigned count() const { return count_; }
  void clear() { count_ = 0; }

 private:
  struct Range {
    uint64_t base, end;  // [base, end)
  };
  Range ranges_[kMaxRanges];  // sorted by base, disjoint and not adjacent
  unsigned count_ = 0;
};

}  // namespace vmm::monitor
