// The emulator's view of guest memory: linear addresses, already past segmentation (the
// emulator does segmentation itself, decode/emulate/segmentation.hpp). Paging, guest-physical
// access and A/D bits live behind this seam; the hypervisor plugs in
// vmm::guest_memory::GuestLinearMemory (the guest's page walk over guest-physical memory), the
// tests plug in flat buffers. design.md: decode/ emulates "over an abstract guest-memory
// interface" and may not depend on vmm/.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace decode::emulate {

// What kind of access the paging checks must apply (SDM Vol 3A 4.6 "Access Rights").
enum class AccessType : uint8_t {
  read,   // data read
  write,  // data write, and the read half of a read-modify-write instruction: hardware checks
          // write permission before it reads (a #PF there has W/R = 1, SDM Vol 3A 4.7)
  fetch,  // instruction fetch
};

enum class MemOutcome : uint8_t {
  ok,
  page_fault,  // the guest's paging forbids the access: inject #PF(error_code), CR2 = address
  bad_gpa,     // the translation ends at a guest-physical address that is not guest RAM
               // (MMIO, hidden hypervisor memory): address = that GPA
  retry,       // the guest's paging structures changed under the walk (another vCPU); nothing
               // was written: resume the guest without advancing RIP and let it re-execute
};

struct MemStatus {
  MemOutcome outcome = MemOutcome::ok;
  uint32_t error_code = 0;  // page_fault: the #PF error code (SDM Vol 3A 4.7, Figure 4-12)
  uint64_t address = 0;     // page_fault: the faulting linear address (CR2); bad_gpa: the GPA

  constexpr bool ok() const { return outcome == MemOutcome::ok; }
  static constexpr MemStatus success() { return {}; }
};

// Every call covers one access of `bytes` bytes that may straddle pages. Contract, which the
// emulator relies on for "no partial writes":
//  - every page of the range is checked before any byte is read or written, so a faulting
//    access has no effect (SDM Vol 3A 6.5: a fault is reported before the instruction changes
//    state);
//  - for a straddling access, the first page that fails is reported (the lower address).
class LinearMemory {
 public:
  virtual MemStatus read(uint64_t linear, void* dst, size_t bytes, AccessType type) = 0;
  virtual MemStatus write(uint64_t linear, const void* src, size_t bytes) = 0;
  // Atomic compare-and-exchange of 1, 2, 4 or 8 bytes (little-endian value): if memory holds
  // `expected`, store `desired`. *observed receives the value found either way; the exchange
  // happened iff *observed == expected. For LOCK-prefixed instructions and XCHG with memory
  // (SDM Vol 3A 9.1.2.2 "Software Controlled Bus Locking"). An access that straddles two
  // pages cannot be made atomic by this seam: it is performed as a checked read and write.
  virtual MemStatus cmpxchg(uint64_t linear, unsigned bytes, uint64_t expected, uint64_t desired,
                            uint64_t* observed) = 0;

 protected:
  // Not deletable through the interface (no allocation in VMX root; see vmx::VmcsAccess).
  ~LinearMemory() = default;
};

}  // namespace decode::emulate
