// Where EPT tables come from. The image implements it over a pool of UEFI runtime-services pages
// (identity: phys_of and virt_of return their argument); the unit tests hand out heap pages at
// made-up physical addresses, so that every walk must go through virt_of.
#pragma once
#include <stdint.h>

namespace vmm::ept {

class PageAllocator {
 public:
  // One 4 KiB page, 4 KiB aligned, zero-filled, write-back memory; nullptr when exhausted.
  virtual void* alloc_zeroed_page() = 0;
  // The host-physical address of a page this allocator returned.
  virtual uint64_t phys_of(void* page) = 0;
  // The inverse of phys_of, for the pages this allocator returned (used to walk the tables).
  virtual void* virt_of(uint64_t phys) = 0;

 protected:
  ~PageAllocator() = default;
};

}  // namespace vmm::ept
