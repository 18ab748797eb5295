// The EPT write monitor (issue P4): guest-physical ranges whose writes are logged, one event
// per write, with the CPU, the writing instruction (RIP and bytes), the address, the size and
// the old and new values. Ranges come from the configuration (`monitor=`, boot/config.hpp)
// and from hypercalls 16-19 (vmm/hypercall.hpp has the ABI).
//
// How a write is caught (SDM Vol 3C 29.3.3.2 "EPT Violations"): every 4 KiB page that a
// watched range touches is read+execute only in the EPT (R=1 W=0 X=1: reads and fetches never
// exit); a guest write there is an EPT violation, which vmm/handlers/ept_violation.cpp hands
// to this owner (vmm/ept_write_intercept.hpp). The owner decodes the instruction at guest RIP
// and emulates it (vmm/handlers/emulate_at_rip.hpp) through the routed guest-memory view
// (GuestPolicy::guest_ram, vmm/guest_memory/guest_phys_view.hpp), which hands this monitor
// (its WatchedPages) each piece written into a watched page, with its old and new bytes:
// pieces inside a watched range become events, pieces in the unwatched part of a watched page
// are written and not logged. The emulator advances RIP; nothing is single-stepped. The same
// view serves every other emulation path, so a write that reaches a watched page from an
// instruction emulated for another exit (the APIC page's, a write into hypervisor memory, the
// descriptor-table guard, a REP that runs on from another page) is recorded too, with that
// instruction's RIP and bytes. The events of one exit are recorded here only (the owner path
// installs no WriteObserver): never twice.
//
// Fallback: an instruction the emulator does not do (CMPXCHG, XADD, SSE/AVX stores, EVEX
// (AVX-512 and APX: KVM re-executes those on RAM too, vmm/handlers/emulate_at_rip.hpp), ...) is
// executed by the guest itself under the monitor-trap flag (SDM Vol 3C 26.5.2): the page is
// snapshotted, made writable, MTF is set, the guest resumes; the MTF VM exit (reason 37)
// after that one instruction compares the page with the snapshot, logs each changed run of
// bytes inside a watched range as a 'fallback' event (at most 8 bytes each), write-protects
// the page again and clears MTF. A second (third ...) watched page touched by the same
// instruction is added to the step the same way, up to kMaxStepPages. Without MTF (Bochs
// 2.7) the VMX-preemption timer ends the step instead (StepMethod).
//
// Limits (by design, documented for users):
//   - With the preemption timer (no MTF), the step may cover a few more instructions.
//   - While a page is writable for a fallback step, every CPU may write it without an exit;
//     such writes by other CPUs land in the fallback's diff (attributed to the stepping
//     instruction) or, when they restore a byte's old value, are not seen at all. Writes
//     with unchanged values are never seen by a fallback (they are by the emulator).
//   - Only the first kFallbackPages pages of one step are snapshotted; writes to further
//     pages of the same step are not recorded (counted in `dropped`).
//   - A range added at run time is enforced at once on the CPU that adds it; another CPU
//     may still write through a writable translation it cached until its next VM exit,
//     when it invalidates (INVEPT, SDM 29.4.3.1) because the EPT generation moved.
//   - Stale read-only translations after a range is removed only cause one extra exit,
//     answered by an INVEPT and a retry of the instruction.
//   - The ring keeps the newest kRingSize events; older ones are overwritten (`dropped`).
//   - An emulated write by another CPU into a page held open for a step is recorded twice:
//     as that CPU's emulated event and in the step's diff.
//
// The platform seam (Platform) gives the RAM map, the EPT rights, INVEPT and guest memory:
// the image implements it over the identity EPT (ept_platform.hpp), the unit tests over fakes.
#pragma once
#include <stdint.h>

#include "arch/spinlock.hpp"
#include "vmm/ept/ept_status.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"
#include "vmm/monitor/monitor_vcpu.hpp"

namespace vmm::monitor {

inline constexpr unsigned kMaxRanges = 16;     // watched ranges at once
inline constexpr unsigned kRingSize = 256;     // events kept (newest)
inline constexpr unsigned kMaxEventBytes = 8;  // bytes of old/new value per event
// Pages writable for fallback steps, all CPUs: at least one whole step (kMaxStepPages), so a
// step alone always completes; CPUs that find every slot taken retry their instruction.
inline constexpr unsigned kMaxHeldPages = 64;
static_assert(kMaxHeldPages >= kMaxStepPages, "one step must fit in the held-page table");

enum class Status : uint8_t {
  ok,
  unavailable,    // no monitor: neither the monitor-trap flag nor the preemption timer
  bad_range,      // empty, wraps, or not translated by the EPT
  not_guest_ram,  // overlaps MMIO, a hole, reserved memory or hidden hypervisor memory
  table_full,     // kMaxRanges ranges already watched
  overlap,        // overlaps a range already watched
  no_such_range,  // remove: no watched range is exactly [gpa, gpa + size)
  ept_failed,     // the EPT could not be changed (no pool pages left to split large pages)
  no_event,       // read: that sequence number has not been recorded yet
  event_lost,     // read: the event was overwritten in the ring
};
const char* status_name(Status s);

enum class EventKind : uint8_t { emulated = 0, fallback = 1 };

// How a fallback instruction is stepped. The monitor-trap flag exits after exactly one
// instruction (SDM Vol 3C 26.5.2); every Intel CPU with EPT has it, Bochs 2.7 does not. There
// the VMX-preemption timer (26.5.1) is armed with a small value instead: the exit comes after
// at least one instruction (the value doubles while the guest has not moved) but may come a
// few instructions later; writes those make to the open page are logged with the stepped
// instruction's RIP.
enum class StepMethod : uint8_t { monitor_trap_flag, preemption_timer };
inline constexpr uint32_t kTimerFirst = 1, kTimerMax = 1u << 20;

// Clears the monitor-trap flag and the preemption-timer control (the step exits' handlers).
bool disarm_step(vmx::VmcsAccess& vmcs);

struct Event {
  uint64_t seq;        // 0 for the first event ever recorded
  uint64_t gpa;        // first byte written
  uint64_t linear;     // its guest-linear address (0 when unknown)
  uint64_t rip;        // the writing instruction
  uint64_t old_value;  // `size` bytes, little-endian, zero-extended
  uint64_t new_value;
  uint8_t insn[kInsnBytes];  // its bytes (zero past insn_length)
  uint8_t insn_length;       // 0 when it could not be fetched
  uint8_t size;              // 1..kMaxEventBytes
  EventKind kind;
  uint32_t cpu;  // Vcpu::index
  // R16..R31 of the writing CPU's guest as the recording exit found them (emulated: before the
  // instruction; fallback: after the step), kept only when that guest's XCR0.APX is set: only
  // then do they exist for it (issue P11, the visibility KVM gives through its ioctls).
  uint8_t egprs_valid;
  uint64_t egprs[16];
};
// Copies the guest's R16..R31 into `e` when its XCR0.APX is set (egprs_valid), else clears them.
void capture_event_egprs(const vmx::GprFile& regs, uint64_t guest_xcr0, Event& e);

struct Stats {
  uint64_t recorded;       // events ever recorded (= the next sequence number)
  uint64_t dropped;        // events overwritten in the ring, and fallback writes not recorded
  uint64_t fallbacks;      // instructions single-stepped under MTF
  uint64_t emulated;       // write exits resolved by emulation
  uint64_t stale;          // exits from stale translations (INVEPT and retry)
  unsigned ranges;         // ranges watched now
};

struct Range {
  uint64_t gpa, size;
};

// What the monitor needs from the machine (image: ept_platform.hpp; tests: a fake).
class Platform {
 public:
  // Every byte of [gpa, gpa + size) is RAM in the firmware's memory map.
  virtual bool is_ram(uint64_t gpa, uint64_t size) = 0;
  // EPT rights of every 4 KiB page touching [gpa, gpa + size): R+X when `protect`, else
  // R+W+X. Refuses hidden (hypervisor) and unmapped pages without changing anything
  // (EptIdentityMap::set_permissions). No INVEPT.
  virtual ept::EptStatus set_write_protect(uint64_t gpa, uint64_t size, bool protect) = 0;
  // Points hidden (hypervisor) page `page` at host-physical `sink_hpa` R+W+X, or back at the
  // zero page when it is 0 (EptIdentityMap::redirect_hidden). No INVEPT.
  virtual ept::EptStatus redirect_hidden(uint64_t page, uint64_t sink_hpa) = 0;
  // The same for the local-APIC page (EptIdentityMap::redirect_leaf / restore_leaf): the entry
  // replaced goes to `*saved` and comes back with restore_device. No INVEPT. A platform
  // without (tests that need none) refuses.
  virtual ept::EptStatus redirect_device(uint64_t, uint64_t, uint64_t*) { return ept::EptStatus::not_mapped; }
  virtual ept::EptStatus restore_device(uint64_t, uint64_t) { return ept::EptStatus::not_mapped; }
  // The EPT lets the guest write this page now (a write exit there came from a stale TLB).
  virtual bool ept_allows_write(uint64_t gpa) = 0;
  // INVEPT for the guest's EPT on the calling CPU.
  virtual void flush_this_cpu() = 0;
  // Guest RAM as the emulator reaches it.
  virtual guest_memory::GuestPhysMemory& phys() = 0;

 protected:
  ~Platform() = default;
};

class WriteMonitor final : public EptWriteIntercept, public guest_memory::WatchedPages {
 public:
  // `snapshots`: kFallbackPages zeroed 4 KiB pages per CPU index below `cpus`, in memory the
  // guest cannot reach (nullptr: fallbacks are single-stepped but record nothing).
  void init(Platform* platform, uint8_t* snapshots, unsigned cpus,
            StepMethod method = StepMethod::monitor_trap_flag);
  StepMethod step_method() const { return method_; }
  bool ready() const { return platform_ != nullptr; }

  Status add(uint64_t gpa, uint64_t size);
  Status remove(uint64_t gpa, uint64_t size);
  Status read_event(uint64_t seq, Event* out);
  Stats stats();
  bool range_at(unsigned index, Range* out);  // index < kMaxRanges; false for a free slot

  // EptWriteIntercept: watched pages, pages held writable for a step, and pages the EPT
  // already lets the guest write (the exit came through a stale translation).
  bool covers(uint64_t gpa) override;
  ExitAction on_write(ExitContext& ctx, uint64_t gpa) override;
  // An event delivery (its frame's pushes) writes a watched page (ExitContext::event_delivery,
  // the event is injected again already): nothing to emulate; the delivery is single-stepped
  // like a fallback instruction, so its writes land and become 'fallback' events.
  ExitAction on_event_delivery(ExitContext& ctx, uint64_t gpa) override;

  // An event delivery writes hypervisor memory (the guest's stack lies there: issue P8). As
  // with ROM, the pushes are discarded and the delivery completes: the hidden page points at
  // a sink for exactly the delivery (this CPU's snapshot page, zeroed before and after), the
  // delivery is single-stepped by the step mechanism above, and the step's exit points the
  // page back at the zero page. Reads of hidden pages return zeros to everyone afterwards.
  // During the window (one delivery with MTF, a few instructions with the preemption timer) a
  // sibling CPU that touches the same page reads, writes and fetches the sink — the bytes
  // this CPU's delivery pushed (the guest's own RIP, CS, RFLAGS, RSP, SS, error code), never
  // hypervisor data — and may keep a stale translation to it until its next VM exit (the
  // step's end moves the EPT generation, so it runs INVEPT before its next entry); its writes
  // through one land in the sink and are neither discarded nor counted. Another CPU that
  // delivers onto a page sunk already waits (the event is injected again, it exits again).
  ExitAction sink_delivery_write(ExitContext& ctx, uint64_t gpa);
  // An event delivery pushes its frame onto the local-APIC page (the guest's RSP there: no OS
  // does it; issue P8). The page cannot be made writable (the pushes would write APIC
  // registers, the ICR among them, around the INIT/SIPI intercept) and must not stop the CPU:
  // the pushes are discarded as in hypervisor memory. The page points at this CPU's sink for
  // exactly the delivery (Platform::redirect_device), the delivery is single-stepped, the
  // step's exit puts the APIC mapping back and logs it. No APIC register is written by a
  // push; the handler runs with a frame that reads what the APIC page reads afterwards. The
  // window is the one described above, with one more cost: a sibling CPU that accesses its
  // own APIC page during it reaches the sink instead (its reads see the pushed bytes, its
  // writes are lost) — the guest's own doing, never the hypervisor's memory.
  ExitAction sink_apic_delivery(ExitContext& ctx, uint64_t gpa);

  // Exit reasons 37 (MTF) and 52 (preemption timer): the stepped instruction is done (or an
  // event was delivered first: then nothing changed and the guest will execute it again).
  ExitAction on_step_exit(ExitContext& ctx);
  // The CPU shut down (a triple fault) during a step, e.g. a delivery whose IDT read zeros:
  // the step ends now, as its exit would end it (pages protected again, sinks emptied, the
  // controls cleared), since no MTF or timer exit comes in the shutdown state.
  ExitAction end_step_for_shutdown(ExitContext& ctx);

  // guest_memory::WatchedPages, for the routed view: a page with a watched range, and one
  // piece the view wrote there on behalf of `ctx`'s instruction (events for the pieces that
  // touch a range, kind `emulated`, RIP and bytes of the exit's instruction).
  bool watched(uint64_t gpa) override;
  void record(ExitContext* ctx, const guest_memory::WriteRecord& write) override;

  // Before every VM entry: INVEPT on this CPU when the EPT generation moved since its last.
  void before_entry(Vcpu& vcpu);
  uint64_t generation() const { return __atomic_load_n(&generation_, __ATOMIC_ACQUIRE); }

  void reset();  // tests: forget everything, platform included

 private:
  void bump_generation_locked();  // under lock_: a new generation, every vCPU told
  struct Held {
    uint64_t page;
    unsigned holders;  // 0: free slot
  };

  void lock();
  void unlock();
  bool page_watched_locked(uint64_t page) const;
  bool flushed_stale_translation(uint64_t page);  // takes the lock
  bool byte_watched_locked(uint64_t gpa, uint64_t size) const;
  Held* held_locked(uint64_t page);
  void record_locked(Event& e);
  void reprotect_edges_locked(uint64_t gpa, uint64_t size);
  void fetch_instruction(ExitContext& ctx, Event& e);
  void fetch_uncached(ExitContext& ctx, Event& e);
  void origin_of(ExitContext& ctx, Event& e);
  // Where a delivery's step sends its pushes: the page itself (watched), or this CPU's sink in
  // place of a hidden page or of the APIC page.
  enum class Sink : uint8_t { none, hidden, device };
  ExitAction start_step(ExitContext& ctx, uint64_t page, uint64_t linear_page, const Event& tmpl, Sink sink = Sink::none);
  ExitAction extend_step(ExitContext& ctx, uint64_t page, uint64_t linear_page);
  enum class Hold : uint8_t { ok, busy, failed };
  Hold hold_page(Vcpu& vcpu, uint64_t page, uint64_t linear_page, Sink sink = Sink::none);
  ExitAction step_delivery(ExitContext& ctx, uint64_t page, Sink sink);
  Hold hold_sink(Vcpu& vcpu, uint64_t page, uint64_t linear_page, uint8_t* sink, Sink kind);
  void diff_page_locked(Vcpu& vcpu, unsigned index);
  bool step_ran_locked(ExitContext& ctx);
  // The end of a step (on_step_exit, end_step_for_shutdown): diffs, protection, sinks; unlocks.
  ExitAction finish_step_locked(ExitContext& ctx);
  uint8_t* snapshot_of(const Vcpu& vcpu, unsigned index) const;

  Platform* platform_ = nullptr;
  uint8_t* snapshots_ = nullptr;
  unsigned snapshot_cpus_ = 0;
  StepMethod method_ = StepMethod::monitor_trap_flag;
  arch::SpinLock lock_;
  uint64_t generation_ = 0;
  Range ranges_[kMaxRanges] = {};  // size 0: free
  unsigned range_count_ = 0;       // ranges watched (atomic reads: watched() without the lock)
  Held held_[kMaxHeldPages] = {};
  Event ring_[kRingSize] = {};
  uint64_t next_seq_ = 0;
  uint64_t dropped_ = 0;
  uint64_t fallbacks_ = 0;
  uint64_t emulated_ = 0;
  uint64_t stale_ = 0;
};

namespace detail {
[[gnu::visibility("hidden")]] extern WriteMonitor* g_monitor;  // hidden: no GOT load (launch.hpp)
}

// The machine's monitor, or nullptr (hypercalls 16-19 then answer `unavailable`).
inline WriteMonitor* write_monitor() { return __atomic_load_n(&detail::g_monitor, __ATOMIC_ACQUIRE); }
void set_write_monitor(WriteMonitor* m);

// Exit path hook (vmm/launch/exit_entry.cpp): write_monitor()->before_entry(vcpu) when set.
// Called only when the vCPU's pending::monitor_flush is set (bump_generation_locked, and
// once at launch), so exits pay nothing for the monitor otherwise.
inline void before_vm_entry(Vcpu& vcpu) {
  if (WriteMonitor* m = write_monitor()) m->before_entry(vcpu);
}

}  // namespace vmm::monitor
