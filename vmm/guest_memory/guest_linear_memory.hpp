// Guest memory by linear address: the guest's paging (paging.hpp) over guest-physical memory
// (guest_phys_memory.hpp). It is the emulator's decode::emulate::LinearMemory, and the API the
// handlers use to read and write guest structures by linear address (descriptor tables with
// implicit-supervisor accesses, the instruction at RIP).
//
// Straddling accesses: every page is translated and checked before any byte moves, so a
// fault leaves memory untouched (SDM Vol 3A 6.5); the first failing page is reported, with
// CR2 = the access's first byte on that page. One-page accesses are translated once.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/emulate/linear_memory.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"
#include "vmm/guest_memory/paging.hpp"

namespace vmm::guest_memory {

using decode::emulate::MemOutcome;
using decode::emulate::MemStatus;

// One piece of an emulated write as it reached guest-physical memory (for the EPT write
// monitor: which GPA changed, from what, to what). Writes are reported in pieces of at most
// kMaxBytes that do not cross a page.
struct WriteRecord {
  static constexpr unsigned kMaxBytes = 16;
  uint64_t linear;
  uint64_t gpa;
  uint8_t bytes;
  uint8_t old_bytes[kMaxBytes];
  uint8_t new_bytes[kMaxBytes];
};

class WriteObserver {
 public:
  virtual void on_write(const WriteRecord& record) = 0;

 protected:
  ~WriteObserver() = default;
};

class GuestLinearMemory final : public decode::emulate::LinearMemory {
 public:
  GuestLinearMemory(GuestPhysMemory& phys, const PagingState& paging, WriteObserver* observer = nullptr)
      : phys_(phys), paging_(paging), observer_(observer) {}

  PagingState& paging() { return paging_; }
  const PagingState& paging() const { return paging_; }
  void set_observer(WriteObserver* observer) { observer_ = observer; }

  // decode::emulate::LinearMemory: the explicit accesses of an instruction (user mode iff
  // CPL 3). `type` write on a read is the read half of a read-modify-write.
  MemStatus read(uint64_t linear, void* dst, size_t bytes, AccessType type) override;
  MemStatus write(uint64_t linear, const void* src, size_t bytes) override;
  MemStatus cmpxchg(uint64_t linear, unsigned bytes, uint64_t expected, uint64_t desired,
                    uint64_t* observed) override;

  // With an explicit access mode: Privilege::implicit_supervisor for GDT/LDT/IDT/TSS
  // accesses (SDM Vol 3A 4.6). access.type must be read or fetch for read(), is ignored
  // (always a write) for write().
  MemStatus read(uint64_t linear, void* dst, size_t bytes, Access access);
  MemStatus write(uint64_t linear, const void* src, size_t bytes, Privilege privilege);

  // One address, with A/D bits set like an access would.
  Translation translate(uint64_t linear, Access access) {
    return guest_memory::translate(phys_, wrap(linear), access, paging_);
  }

 private:
  // Linear addresses are 32 bits outside IA-32e mode (Vol 3A 3.3.2).
  uint64_t wrap(uint64_t linear) const;
  MemStatus access(uint64_t linear, size_t bytes, Access access, void* dst, const void* src);
  MemStatus write_chunk(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes);

  GuestPhysMemory& phys_;
  PagingState paging_;
  WriteObserver* observer_;
};

// Translation → MemStatus (CR2 = `linear` for a #PF).
MemStatus status_of(const Translation& t, uint64_t linear);

}  // namespace vmm::guest_memory
