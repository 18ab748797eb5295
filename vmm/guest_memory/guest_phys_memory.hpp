// The guest-physical memory seam (design.md "Hardware access goes through small seams"): the
// page walker reads paging-structure entries and sets their A/D bits through it, and
// GuestLinearMemory moves the emulated data through it. Every emulation path in the image uses
// one implementation, the routed view of guest_phys_view.hpp (GuestPolicy::guest_ram): RAM
// through the host's identity map (host_phys_memory.hpp), hypervisor memory, the trapped APIC
// page and the write monitor's pages each with their own answer; the tests plug in sparse
// arrays of pages, alone or under the same view.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace vmm::guest_memory {

inline constexpr uint64_t kPageSize = 4096;

// How many of the `bytes` bytes from `address` (linear or physical) lie in its 4 KiB page: an
// access is split there, each page getting its own translation and answer.
constexpr size_t bytes_in_page(uint64_t address, size_t bytes) {
  const uint64_t to_end = kPageSize - (address & (kPageSize - 1));
  return bytes < to_end ? bytes : static_cast<size_t>(to_end);
}

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

  // write() and cmpxchg() with the guest-linear address of the first byte, for callers that
  // know it (GuestLinearMemory): the routed view (guest_phys_view.hpp) puts it in the EPT
  // write monitor's events. Plain memory has no use for it.
  virtual PhysStatus write_at(uint64_t linear, uint64_t gpa, const void* src, size_t bytes) {
    (void)linear;
    return write(gpa, src, bytes);
  }
  virtual PhysStatus cmpxchg_at(uint64_t linear, uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                uint64_t* observed) {
    (void)linear;
    return cmpxchg(gpa, bytes, expected, desired, observed);
  }
  // A host pointer to the byte at `gpa`, valid up to the end of its page, when the page is
  // plain guest RAM and stays so (for the routed view: not hypervisor memory, not a device
  // page; neither changes after boot); null otherwise. For a cache that re-reads a few guest
  // words on every use (vmm/handlers/rip_decode_cache.hpp) without the classification each
  // read() does. Default: none (callers then take their uncached path).
  virtual const volatile uint8_t* ram_pointer(uint64_t gpa) {
    (void)gpa;
    return nullptr;
  }
  // ok when an access to the page holding `gpa` would be accepted, found without a side
  // effect: GuestLinearMemory asks for every page of a straddling access before any byte
  // moves. A one-byte read for plain memory; the routed view answers for device pages
  // without touching the device.
  virtual PhysStatus probe(uint64_t gpa) {
    uint8_t byte = 0;
    return read(gpa, &byte, 1);
  }

 protected:
  ~GuestPhysMemory() = default;  // not deletable through the interface (see vmx::VmcsAccess)
};

}  // namespace vmm::guest_memory
