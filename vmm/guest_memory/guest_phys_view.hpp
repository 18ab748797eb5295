// Guest-physical memory as every emulated instruction reaches it (issue P8: "the emulator
// honours the same protections as the EPT"). One view, GuestPolicy::guest_ram, serves every
// path that emulates against guest memory: the EPT write monitor (vmm/monitor), the xAPIC page
// intercept (vmm/apic/apic_page_intercept.hpp, with or without APIC-register virtualization),
// the discard of writes into hypervisor memory (vmm/handlers/hypervisor_memory_write.hpp), the
// descriptor-table guard and the MOV fast paths, and the page walker's A/D-bit updates under
// all of them. Each access is split at 4 KiB boundaries and every page goes where classify()
// says, so an instruction that runs from one kind of page into another (a REP STOS from a
// watched page into the APIC page, a MOVS from RAM into hypervisor memory) gets, byte for
// byte, the answer the EPT gives a guest that touches that page itself:
//
//   hypervisor  what the EPT hides (GuestPolicy::hypervisor_memory): reads zeros, writes are
//               discarded and counted (Vcpu::hypervisor_writes_discarded, the first per CPU
//               logged), as a write to ROM is;
//   apic        the trapped xAPIC page: the APIC intercept's device, so an ICR write that
//               sends INIT or STARTUP goes through the INIT/SIPI intercept like a MOV does;
//   watched     a page holding a range of the EPT write monitor: written like RAM, and the
//               pieces that touch a watched range recorded as the monitor's events (CPU,
//               instruction, linear and physical address, old and new bytes);
//   ram         everything else: memory through `ram` (the host's identity map in the image,
//               which still refuses what the EPT does not map: bad_gpa).
//
// Precedence, in that order (classify() is the one place that decides): nothing reaches
// hypervisor memory, whoever else claims the page (a hypervisor page is never routed to the
// APIC device: route_apic_page; so classify() may test the APIC page first, and does); the
// APIC page is a device, never memory, even if a monitor range were placed on it (the
// monitor refuses MMIO anyway).
//
// Locked accesses (cmpxchg; LOCK-prefixed instructions, XCHG, A/D-bit updates): atomic inside
// one page, on that page's route: RAM and watched pages by LOCK CMPXCHG on the host mapping
// (watched: recorded when it stored); hypervisor memory compares against the zeros it reads
// and discards the store (counted); the APIC page reads, compares and writes the register
// through the intercept, which is atomic because the registers are this CPU's own and nothing
// else runs on it in VMX root. A locked access that straddles two pages is a split lock: the
// hardware's bus lock makes it one atomic read and write of the whole operand whatever the
// pages are (SDM Vol 3A 9.1.2.2). GuestLinearMemory::cmpxchg carries it out the same way
// through this view: every page is probed first (nothing moves unless all accept), then one
// read of the whole, the compare, one write of the whole, each page's part with that page's
// answer above (discarded and counted, recorded, or handed to the APIC device, which drops a
// part that is not a whole register and logs it). It is never silently cut: no part is
// skipped, no part lands in memory it must not reach. What it is not is atomic against other
// CPUs for its RAM part, the limit every split lock through the emulator has; the hypervisor
// part cannot change (it is zeros to every guest) and the APIC part is this CPU's alone.
//
// The view itself is machine-wide and stateless; what an access needs from the CPU whose exit
// is being handled (its index for the APIC intercept and the events, the instruction for the
// events, the counter) comes from `current_exit`, asked only when an access reaches a special
// page (image: this CPU's HostCpu through the host GS base, host_phys_memory.hpp; tests: the
// fixture's context). Routes are set before any CPU launches and read-only afterwards.
//
// Recursion: the owners never emulate and never come back into the view (the monitor records
// under its own lock and fetches instructions through raw RAM, the APIC device writes
// registers), and the monitor's own path records only here (it installs no WriteObserver),
// so a write is recorded once.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_memory/guest_linear_memory.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm {
struct ExitContext;
struct Vcpu;
}  // namespace vmm

namespace vmm::guest_memory {

// What one 4 KiB guest-physical page is to an emulated access; see the header comment.
enum class PageKind : uint8_t { hypervisor, apic, watched, ram };
const char* page_kind_name(PageKind k);

// The device behind a special page (the trapped xAPIC page: vmm/apic/apic_page_intercept.hpp).
// Accesses never cross its page; `ctx` is the exit of the CPU making them.
class PageDevice {
 public:
  virtual PhysStatus read(ExitContext& ctx, uint64_t gpa, void* dst, size_t bytes) = 0;
  virtual PhysStatus write(ExitContext& ctx, uint64_t gpa, const void* src, size_t bytes) = 0;
  virtual PhysStatus cmpxchg(ExitContext& ctx, uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                             uint64_t* observed) = 0;

 protected:
  ~PageDevice() = default;
};

// The owner of watched pages (the EPT write monitor: vmm/monitor/write_monitor.hpp).
class WatchedPages {
 public:
  // The page holding `gpa` has a watched range.
  virtual bool watched(uint64_t gpa) = 0;
  // One piece the view wrote into a watched page (at most WriteRecord::kMaxBytes, one page;
  // linear kNoLinear when unknown), on behalf of `ctx`'s CPU (null: no exit known). The owner
  // keeps what touches a watched range.
  virtual void record(ExitContext* ctx, const WriteRecord& write) = 0;

 protected:
  ~WatchedPages() = default;
};

inline constexpr uint64_t kNoLinear = ~0ull;  // write()/cmpxchg() without a linear address
inline constexpr uint64_t kNoPage = ~0ull;

class GuestPhysView final : public GuestPhysMemory {
 public:
  // `ram`: guest RAM by guest-physical address. `hypervisor_memory`: the one predicate
  // (GuestPolicy::hypervisor_memory; null: none). `current_exit`: the exit this CPU is
  // handling (null, or returning null: special pages other than hypervisor memory refuse).
  GuestPhysView(GuestPhysMemory* ram, bool (*hypervisor_memory)(uint64_t gpa),
                ExitContext* (*current_exit)() = nullptr)
      : ram_(ram), hypervisor_(hypervisor_memory), current_exit_(current_exit) {}

  // Boot-time wiring, before any CPU launches.
  // A page that is hypervisor memory is never routed to a device (classify() relies on it):
  // the exits that reach it then stop the guest CPU rather than expose that memory.
  void route_apic_page(uint64_t page, PageDevice* device) {
    if (device && hypervisor_ && hypervisor_(page & ~0xfffull)) device = nullptr;
    apic_page_ = device ? (page & ~0xfffull) : kNoPage;
    apic_ = device;
  }
  void route_watched(WatchedPages* owner) { watched_ = owner; }
  PageDevice* apic_device() const { return apic_; }
  WatchedPages* watched_owner() const { return watched_; }

  // The page holding `gpa`, by the precedence above. The one classification.
  PageKind classify(uint64_t gpa) const;

  PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override;
  PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override {
    return write_at(kNoLinear, gpa, src, bytes);
  }
  // RAM and watched pages (memory to a read, watched or not later), never hypervisor memory
  // or the APIC page: the classification of a page read this way never changes.
  const volatile uint8_t* ram_pointer(uint64_t gpa) override {
    const PageKind k = classify(gpa);
    return (k == PageKind::ram || k == PageKind::watched) ? ram_->ram_pointer(gpa) : nullptr;
  }
  PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired, uint64_t* observed) override {
    return cmpxchg_at(kNoLinear, gpa, bytes, expected, desired, observed);
  }
  PhysStatus write_at(uint64_t linear, uint64_t gpa, const void* src, size_t bytes) override;
  PhysStatus cmpxchg_at(uint64_t linear, uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                        uint64_t* observed) override;
  PhysStatus probe(uint64_t gpa) override;

 private:
  ExitContext* exit_now() const { return current_exit_ ? current_exit_() : nullptr; }
  PhysStatus write_page(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes);
  PhysStatus write_watched(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes);

  GuestPhysMemory* ram_;
  bool (*hypervisor_)(uint64_t);
  ExitContext* (*current_exit_)();
  uint64_t apic_page_ = kNoPage;
  PageDevice* apic_ = nullptr;
  WatchedPages* watched_ = nullptr;
};

// One guest write into hypervisor memory discarded: counted in the vCPU, the first of each CPU
// logged (without its address: the log ring is readable by hypercall). The view calls it for
// every write it drops; the EPT-violation handler for an instruction it skips whole.
void count_discarded_write(Vcpu& vcpu);

}  // namespace vmm::guest_memory
