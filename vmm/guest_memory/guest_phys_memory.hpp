// The guest-physical memory seam (design.md "Hardware access goes through small seams"): the
// page walker reads paging-structure entries and sets their A/D bits through it, and
// GuestLinearMemory moves the emulated data through it. The image plugs in an implementation
// over the host's view of guest RAM (guest-physical = host-physical outside hypervisor memory,
// the EPT being an identity map); the tests plug in sparse arrays of pages.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace vmm::guest_memory {

enum class PhysStatus : uint8_t {
  ok,
  bad_gpa,  // some byte is not guest RAM (MMIO, hidden hypervisor memory, beyond the top)
};

class GuestPhysMemory {
 public:
  // Callers never pass a range that crosses a 4 KiB boundary.
  virtual PhysStatus read(uint64_t gpa, void* dst, size_t bytes) = 0;
  virtual PhysStatus write(uint64_t gpa, const void* src, size_t bytes) = 0;
  // Atomic compare-and-exchange of 1, 2, 4 or 8 naturally aligned-or-not bytes inside one page
  // (LOCK CMPXCHG on the host mapping): stores `desired` iff memory holds `expected`; *observed
  // receives what memory held. Used for A/D-bit updates (SDM Vol 3A 4.8: the processor sets
  // them with locked operations) and for LOCKed emulated instructions.
  virtual PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                             uint64_t* observed) = 0;

 protected:
  ~GuestPhysMemory() = default;  // not deletable through the interface (see vmx::VmcsAccess)
};

}  // namespace vmm::guest_memory
