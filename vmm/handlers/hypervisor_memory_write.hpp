// A guest write into hypervisor memory (a page the EPT hides: the image's runtime copy,
// stacks, tables, VMX pages, log ring): discarded, as a write to ROM is, counted, and the
// guest goes on (issue P8: "reads return zeros; a write is discarded and counted").
//
// The hidden pages map to one read-only page of zeros, so reads need nothing; a write exits
// as an EPT violation. The instruction is emulated against a view of guest memory in which
// hypervisor pages read as zeros and swallow writes, so its other effects (registers, flags,
// writes to ordinary memory) happen as on hardware. An instruction the emulator cannot do is
// skipped as a whole. The first discarded write of each CPU is logged, without its address
// (the log ring is readable by hypercall).
#pragma once
#include "vmm/exit_context.hpp"
#include "vmm/exit_action.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm {

// Guest memory with hypervisor pages reading as zeros and discarding writes; everything else
// reaches `ram`. Counts what it discarded.
class HypervisorMemoryDiscard final : public guest_memory::GuestPhysMemory {
 public:
  HypervisorMemoryDiscard(guest_memory::GuestPhysMemory& ram, bool (*hypervisor_memory)(uint64_t gpa))
      : ram_(ram), hypervisor_(hypervisor_memory) {}
  guest_memory::PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override;
  guest_memory::PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override;
  guest_memory::PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                   uint64_t* observed) override;
  unsigned discarded() const { return discarded_; }

 private:
  guest_memory::GuestPhysMemory& ram_;
  bool (*hypervisor_)(uint64_t);
  unsigned discarded_ = 0;
};

// The EPT violation handler's answer to a write into hypervisor memory.
ExitAction discard_hypervisor_memory_write(ExitContext& ctx);

}  // namespace vmm
