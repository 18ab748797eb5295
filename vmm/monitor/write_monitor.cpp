#include "vmm/monitor/write_monitor.hpp"
#include "vmm/handlers/guest_view.hpp"

#include "arch/little_endian.hpp"
#include "decode/emulate/emulate.hpp"
#include "vmm/guest_memory/emu_state.hpp"
#include "vmm/guest_memory/guest_linear_memory.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/log/log.hpp"
#include "vmm/vcpu_registry.hpp"
#include "vmx/controls.hpp"
#include "vmx/exit_qualification.hpp"

namespace vmm::monitor {

namespace {

using vmx::VmcsField;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kPageMask = kPage - 1;
constexpr uint64_t kUnknown = ~0ull;

uint64_t page_of(uint64_t a) { return a & ~kPageMask; }

// [a, a + as) and [b, b + bs) share a byte (sizes > 0, no wrap).
bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs) { return a < b + bs && b < a + as; }

Status from_ept(ept::EptStatus s) {
  switch (s) {
    case ept::EptStatus::ok: return Status::ok;
    case ept::EptStatus::hidden_page: return Status::not_guest_ram;
    case ept::EptStatus::invalid_range:
    case ept::EptStatus::beyond_guest_width:
    case ept::EptStatus::beyond_maxphyaddr:
    case ept::EptStatus::not_mapped: return Status::bad_range;
    default: return Status::ept_failed;
  }
}

// The guest-linear page of an EPT violation, when the exit qualification says the
// guest-linear-address field is valid and is the address of the access itself (SDM Vol 3C
// 28.2.1 Table 28-7, bits 7 and 8).
uint64_t exit_linear_page(vmx::VmcsAccess& vmcs) {
  const uint64_t q = vmcs.read(VmcsField::exit_qualification);
  namespace qual = vmx::ept_violation_qual;
  if ((q & qual::linear_valid) && (q & qual::translated)) return page_of(vmcs.read(VmcsField::guest_linear_address));
  return kUnknown;
}

// One control bit on or off, written only when it changes.
bool set_control(vmx::VmcsAccess& vmcs, VmcsField field, uint32_t bit, bool on) {
  const uint64_t v = vmcs.read(field);
  const uint64_t want = on ? (v | bit) : (v & ~uint64_t{bit});
  return want == v || vmcs.write(field, want);
}

// The step's exit: the monitor-trap flag, primary processor-based control 27 (SDM Vol 3C
// 25.6.2, 26.5.2), or the VMX-preemption timer, pin-based control 6 with the timer value
// reloaded at every VM entry (25.5.1, 26.5.1; "save VMX-preemption timer value" stays 0).
bool arm_step(vmx::VmcsAccess& vmcs, StepMethod method, uint32_t timer_value) {
  if (method == StepMethod::monitor_trap_flag)
    return set_control(vmcs, VmcsField::primary_processor_based_controls, vmx::proc::monitor_trap_flag, true);
  return vmcs.write(VmcsField::vmx_preemption_timer_value, timer_value) &&
         set_control(vmcs, VmcsField::pin_based_controls, vmx::pin::preemption_timer, true);
}

}  // namespace

// Both step exits disarm both mechanisms: whichever is armed, nothing keeps exiting.
bool disarm_step(vmx::VmcsAccess& vmcs) {
  return set_control(vmcs, VmcsField::primary_processor_based_controls, vmx::proc::monitor_trap_flag, false) &&
         set_control(vmcs, VmcsField::pin_based_controls, vmx::pin::preemption_timer, false);
}

const char* status_name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::unavailable: return "monitor unavailable";
    case Status::bad_range: return "empty range, wraps, or not mapped by the EPT";
    case Status::not_guest_ram: return "not guest RAM (MMIO, hole, reserved or hypervisor memory)";
    case Status::table_full: return "range table full";
    case Status::overlap: return "overlaps a watched range";
    case Status::no_such_range: return "no such watched range";
    case Status::ept_failed: return "EPT update failed (out of table pages)";
    case Status::no_event: return "no such event yet";
    case Status::event_lost: return "event overwritten";
  }
  return "?";
}

WriteMonitor* detail::g_monitor = nullptr;

void set_write_monitor(WriteMonitor* m) { __atomic_store_n(&detail::g_monitor, m, __ATOMIC_RELEASE); }

// ---- bookkeeping -------------------------------------------------------------------------

void WriteMonitor::init(Platform* platform, uint8_t* snapshots, unsigned cpus, StepMethod method) {
  platform_ = platform;
  snapshots_ = snapshots;
  snapshot_cpus_ = snapshots ? cpus : 0;
  method_ = method;
}

void WriteMonitor::reset() {
  platform_ = nullptr;
  snapshots_ = nullptr;
  snapshot_cpus_ = 0;
  method_ = StepMethod::monitor_trap_flag;
  lock_ = arch::SpinLock{};
  generation_ = 0;
  for (Range& r : ranges_) r = {};
  range_count_ = 0;
  for (Held& h : held_) h = {};
  next_seq_ = dropped_ = fallbacks_ = emulated_ = stale_ = 0;
}

// Callers run in VMX root with interrupts off (and at boot, before any launch). NMI handlers
// never take the lock. Never held across logging. Taken before live_ept_lock (EPT updates).
void WriteMonitor::lock() { lock_.lock(); }
void WriteMonitor::unlock() { lock_.unlock(); }

bool WriteMonitor::page_watched_locked(uint64_t page) const { return byte_watched_locked(page, kPage); }

// A write exit on a page no longer watched: the EPT allows the write (covers() said so), so
// this CPU used a stale read-only translation. Invalidates it (SDM Vol 3C 29.4.3.1) and
// counts it; true when the guest should simply run the access again.
bool WriteMonitor::flushed_stale_translation(uint64_t page) {
  lock();
  const bool watched = page_watched_locked(page);
  unlock();
  if (watched) return false;
  __atomic_add_fetch(&stale_, 1, __ATOMIC_RELAXED);
  platform_->flush_this_cpu();
  return true;
}

bool WriteMonitor::byte_watched_locked(uint64_t gpa, uint64_t size) const {
  for (const Range& r : ranges_)
    if (r.size && overlaps(r.gpa, r.size, gpa, size)) return true;
  return false;
}

WriteMonitor::Held* WriteMonitor::held_locked(uint64_t page) {
  for (Held& h : held_)
    if (h.holders && h.page == page) return &h;
  return nullptr;
}

void WriteMonitor::record_locked(Event& e) {
  e.seq = next_seq_++;
  Event& slot = ring_[e.seq % kRingSize];
  if (e.seq >= kRingSize) ++dropped_;  // the event in this slot was never read back in time
  slot = e;
}

bool WriteMonitor::range_at(unsigned index, Range* out) {
  if (index >= kMaxRanges) return false;
  lock();
  *out = ranges_[index];
  unlock();
  return out->size != 0;
}

Stats WriteMonitor::stats() {
  lock();
  Stats s{next_seq_, dropped_, fallbacks_, emulated_, stale_, 0};
  for (const Range& r : ranges_) s.ranges += r.size ? 1 : 0;
  unlock();
  return s;
}

Status WriteMonitor::read_event(uint64_t seq, Event* out) {
  if (!platform_) return Status::unavailable;
  lock();
  Status st = Status::ok;
  if (seq >= next_seq_)
    st = Status::no_event;
  else if (next_seq_ - seq > kRingSize)
    st = Status::event_lost;
  else
    *out = ring_[seq % kRingSize];
  unlock();
  return st;
}

// ---- ranges ------------------------------------------------------------------------------

// After [gpa, gpa + size) was made writable (removal or rollback): its first and last page may
// still carry another range (ranges never overlap, but may share a page); those stay
// protected unless a fallback step holds them writable.
void WriteMonitor::reprotect_edges_locked(uint64_t gpa, uint64_t size) {
  const uint64_t edges[2] = {page_of(gpa), page_of(gpa + size - 1)};
  for (unsigned i = 0; i < 2; ++i) {
    if (i == 1 && edges[1] == edges[0]) break;
    if (page_watched_locked(edges[i]) && !held_locked(edges[i]))
      (void)platform_->set_write_protect(edges[i], kPage, true);  // already split: cannot fail
  }
}

Status WriteMonitor::add(uint64_t gpa, uint64_t size) {
  if (!platform_) return Status::unavailable;
  if (size == 0 || gpa + size < gpa || gpa + size > ~kPageMask) return Status::bad_range;
  if (!platform_->is_ram(gpa, size)) return Status::not_guest_ram;
  lock();
  Range* slot = nullptr;
  Status st = Status::ok;
  for (Range& r : ranges_) {
    if (r.size && overlaps(r.gpa, r.size, gpa, size)) st = Status::overlap;
    if (!r.size && !slot) slot = &r;
  }
  if (st == Status::ok && !slot) st = Status::table_full;
  if (st == Status::ok) {
    // set_permissions checks every page first (hidden, unmapped) and changes nothing when it
    // refuses; only running out of table pages stops it half-way: undo that.
    const ept::EptStatus es = platform_->set_write_protect(gpa, size, true);
    st = from_ept(es);
    if (es == ept::EptStatus::out_of_memory) {
      (void)platform_->set_write_protect(gpa, size, false);
      reprotect_edges_locked(gpa, size);
    }
  }
  if (st == Status::ok) {
    *slot = {gpa, size};
    __atomic_store_n(&range_count_, range_count_ + 1, __ATOMIC_RELEASE);
    // A page that a fallback step holds writable stays writable until the step ends.
    for (const Held& h : held_)
      if (h.holders && overlaps(h.page, kPage, gpa, size)) (void)platform_->set_write_protect(h.page, kPage, false);
    bump_generation_locked();  // other CPUs drop writable translations
  }
  unlock();
  if (st == Status::ok) platform_->flush_this_cpu();
  return st;
}

Status WriteMonitor::remove(uint64_t gpa, uint64_t size) {
  if (!platform_) return Status::unavailable;
  lock();
  Range* found = nullptr;
  for (Range& r : ranges_)
    if (r.size && r.gpa == gpa && r.size == size) found = &r;
  Status st = Status::no_such_range;
  if (found) {
    *found = {};
    __atomic_store_n(&range_count_, range_count_ - 1, __ATOMIC_RELEASE);
    // The same pages were protected by add(): every split exists, nothing allocates.
    st = from_ept(platform_->set_write_protect(gpa, size, false));
    reprotect_edges_locked(gpa, size);
    // Not required (stale read-only translations only cost one exit each), but it spares them.
    bump_generation_locked();
  }
  unlock();
  if (found) platform_->flush_this_cpu();
  return st;
}

// The EPT changed in a way other CPUs' cached translations may contradict: a new generation,
// then pending::monitor_flush on every vCPU (vmm/pending_work.hpp), in that order, so that a
// CPU whose exit path sees the bit also sees the generation; before_entry() then flushes.
void WriteMonitor::bump_generation_locked() {
  __atomic_add_fetch(&generation_, 1, __ATOMIC_ACQ_REL);
  for (unsigned i = 0, seen = 0, n = vcpu_count(); i < kMaxCpus && seen < n; ++i) {
    if (Vcpu* v = vcpu_by_index(i)) {
      v->pending.set(pending::monitor_flush);
      ++seen;
    }
  }
}

// ---- exits -------------------------------------------------------------------------------

void WriteMonitor::before_entry(Vcpu& vcpu) {
  const uint64_t g = generation();
  if (vcpu.monitor.ept_generation == g) return;
  platform_->flush_this_cpu();
  vcpu.monitor.ept_generation = g;
}

bool WriteMonitor::covers(uint64_t gpa) {
  if (!platform_) return false;
  const uint64_t page = page_of(gpa);
  lock();
  const bool ours = page_watched_locked(page) || held_locked(page);
  unlock();
  return ours || platform_->ept_allows_write(gpa);
}

bool WriteMonitor::watched(uint64_t gpa) {
  if (!platform_ || __atomic_load_n(&range_count_, __ATOMIC_ACQUIRE) == 0) return false;  // the common case
  lock();
  const bool w = page_watched_locked(page_of(gpa));
  unlock();
  return w;
}

// The emulator's writes as events: each piece that touches a watched range, in pieces of at
// most kMaxEventBytes. Pieces in the unwatched part of a watched page are not logged. The
// instruction is fetched before the lock is taken, through raw RAM (never the view: no
// recursion).
void capture_event_egprs(const vmx::GprFile& regs, uint64_t guest_xcr0, Event& e) {
  e.egprs_valid = (guest_xcr0 & policy::xcr0::APX) != 0;
  for (unsigned n = 0; n < 16; ++n) e.egprs[n] = e.egprs_valid ? regs.gpr[16 + n] : 0;
}

void WriteMonitor::record(ExitContext* ctx, const guest_memory::WriteRecord& r) {
  Event tmpl{};
  tmpl.kind = EventKind::emulated;
  if (ctx) {
    tmpl.cpu = ctx->vcpu.index;
    origin_of(*ctx, tmpl);
    capture_event_egprs(ctx->vcpu.regs, ctx->vcpu.xstate.xcr0, tmpl);
  } else {
    tmpl.cpu = ~0u;  // no exit known: CPU and instruction unknown
  }
  lock();
  if (r.bytes && byte_watched_locked(r.gpa, r.bytes)) {
    for (unsigned off = 0; off < r.bytes; off += kMaxEventBytes) {
      const unsigned n = r.bytes - off < kMaxEventBytes ? r.bytes - off : kMaxEventBytes;
      Event e = tmpl;
      e.gpa = r.gpa + off;
      e.linear = r.linear == guest_memory::kNoLinear ? 0 : r.linear + off;
      e.size = static_cast<uint8_t>(n);
      e.old_value = arch::load_le(r.old_bytes + off, n);
      e.new_value = arch::load_le(r.new_bytes + off, n);
      record_locked(e);
    }
  }
  unlock();
}

// RIP and bytes of the instruction of the exit `ctx` is handling, fetched once per exit and
// kept in the vCPU (a REP writes up to rep_budget pieces).
void WriteMonitor::origin_of(ExitContext& ctx, Event& e) {
  VcpuMonitor& s = ctx.vcpu.monitor;
  if (!s.origin_valid || s.origin_exit != exits_total(ctx.vcpu)) return fetch_instruction(ctx, e);
  e.rip = s.origin_rip;
  e.insn_length = s.origin_insn_length;
  for (unsigned i = 0; i < kInsnBytes; ++i) e.insn[i] = s.origin_insn[i];
}

// RIP and the bytes of the instruction there, as the guest fetches them (its paging, CS),
// through raw RAM (platform phys, never the routed view). Leaves insn_length 0 when the fetch
// faults or the bytes do not decode; emulate_at_rip then raises the fault or #UD itself.
// Kept in the vCPU for this exit (origin_of). The guest's registers are copied first: this may
// run in the middle of an emulation that has changed RSP already.
void WriteMonitor::fetch_instruction(ExitContext& ctx, Event& e) {
  fetch_uncached(ctx, e);
  VcpuMonitor& s = ctx.vcpu.monitor;
  s.origin_valid = true;
  s.origin_exit = exits_total(ctx.vcpu);
  s.origin_rip = e.rip;
  s.origin_insn_length = e.insn_length;
  for (unsigned i = 0; i < kInsnBytes; ++i) s.origin_insn[i] = e.insn[i];
}

void WriteMonitor::fetch_uncached(ExitContext& ctx, Event& e) {
  namespace emu = decode::emulate;
  guest_memory::PagingState paging = guest_memory::read_paging_state(ctx.vmcs, 52);
  // Raw RAM, not the routed view: an A/D update here could land on the xAPIC page or a watched
  // page table unrecorded. Only the fetch needs the walk, and the CPU set the bits itself.
  paging.set_accessed_dirty = false;
  guest_memory::GuestLinearMemory mem(platform_->phys(), paging);
  emu::EmuContext ec;
  vmx::GprFile regs = ctx.vcpu.regs;
  guest_memory::read_emu_context(ctx.vmcs, regs, mem, ec);
  e.rip = ec.rip;
  e.insn_length = 0;
  for (unsigned i = 0; i < kInsnBytes; ++i) e.insn[i] = 0;
  decode::Instruction insn;
  if (emu::fetch_instruction(ec, guest_rex2_enabled(ctx), insn).outcome != emu::Outcome::ok) return;
  if (!insn.ok() || insn.length == 0 || insn.length >= kInsnBytes) return;
  // Linear address of CS:RIP (SDM Vol 3A 3.4: CS.base is 0 in 64-bit mode; 32-bit wrap outside).
  uint64_t linear = ec.rip;
  if (ec.mode != decode::CpuMode::bits64) {
    const uint64_t ip = ec.rip & (ec.mode == decode::CpuMode::bits16 ? 0xFFFFull : 0xFFFFFFFFull);
    linear = (ec.segment(emu::Sreg::cs).base + ip) & 0xFFFFFFFFull;
  }
  uint8_t bytes[kInsnBytes] = {};
  if (!mem.read(linear, bytes, insn.length, emu::AccessType::fetch).ok()) return;
  for (unsigned i = 0; i < kInsnBytes; ++i) e.insn[i] = bytes[i];
  e.insn_length = insn.length;
}

ExitAction WriteMonitor::on_write(ExitContext& ctx, uint64_t gpa) {
  const uint64_t page = page_of(gpa);
  const uint64_t linear_page = exit_linear_page(ctx.vmcs);
  if (ctx.vcpu.monitor.stepping) return extend_step(ctx, page, linear_page);
  if (flushed_stale_translation(page)) return ExitAction::resume();
  Event tmpl{};
  tmpl.cpu = ctx.vcpu.index;
  tmpl.kind = EventKind::emulated;
  fetch_instruction(ctx, tmpl);  // also the origin of this exit's events (origin_of)
  // Emulated through the routed view, which records every piece written into a watched page
  // here (record()); without a view that routes them here, single-stepped instead, so that
  // no write goes unrecorded.
  guest_memory::GuestPhysView* view = ctx.policy.guest_ram;
  if (!view || view->watched_owner() != this) return start_step(ctx, page, linear_page, tmpl);
  bool unsupported = false;
  ExitAction a = emulate_at_rip(ctx, *view, nullptr, &unsupported);
  if (!unsupported) {
    __atomic_add_fetch(&emulated_, 1, __ATOMIC_RELAXED);
    return a;
  }
  // Beyond the emulator, EVEX (AVX-512, APX) included: the guest executes it itself under a
  // single step, as KVM re-executes on a write-tracked RAM page when its emulation fails
  // (vmm/handlers/emulate_at_rip.hpp, unemulated_evex_answer: #UD is for the APIC page).
  return start_step(ctx, page, linear_page, tmpl);
}

uint8_t* WriteMonitor::snapshot_of(const Vcpu& vcpu, unsigned index) const {
  if (!snapshots_ || vcpu.index >= snapshot_cpus_ || index >= kFallbackPages) return nullptr;
  return snapshots_ + (static_cast<uint64_t>(vcpu.index) * kFallbackPages + index) * kPage;
}

// Makes `page` writable for this CPU's step: snapshot first (while it is still protected, so
// only a CPU already stepping on the same page can change it meanwhile), then R+W+X and a
// local INVEPT. Other CPUs need no flush: their read-only translations only cost an exit,
// whose write is emulated and recorded.
WriteMonitor::Hold WriteMonitor::hold_page(Vcpu& vcpu, uint64_t page, uint64_t linear_page, Sink sink) {
  VcpuMonitor& s = vcpu.monitor;
  const unsigned index = s.page_count;
  uint8_t* snap = snapshot_of(vcpu, index);
  if (sink != Sink::none) return hold_sink(vcpu, page, linear_page, snap, sink);
  lock();
  Held* h = held_locked(page);
  if (!h) {
    for (Held& free : held_)
      if (!free.holders) {
        h = &free;
        break;
      }
    if (!h) {
      unlock();
      return Hold::busy;  // every slot taken by other CPUs' steps: retry the instruction
    }
    if (platform_->set_write_protect(page, kPage, false) != ept::EptStatus::ok) {
      unlock();
      return Hold::failed;
    }
    h->page = page;
  }
  ++h->holders;
  bool snapped = false;
  if (snap) snapped = platform_->phys().read(page, snap, kPage) == guest_memory::PhysStatus::ok;
  unlock();
  platform_->flush_this_cpu();
  s.page[index] = page;
  s.linear_page[index] = linear_page;
  s.snapped[index] = snapped;
  s.page_count = static_cast<uint8_t>(index + 1);
  return Hold::ok;
}

// A hidden page as a delivery's sink: held by this CPU alone (another CPU's sink there makes
// this one wait), pointed at this CPU's snapshot page `sink`, zeroed first so that nothing of
// an earlier step shows through.
WriteMonitor::Hold WriteMonitor::hold_sink(Vcpu& vcpu, uint64_t page, uint64_t linear_page, uint8_t* sink,
                                           Sink kind) {
  VcpuMonitor& s = vcpu.monitor;
  const unsigned index = s.page_count;
  if (!sink) return Hold::failed;
  lock();
  Held* h = nullptr;
  if (!held_locked(page))
    for (Held& free : held_)
      if (!free.holders) {
        h = &free;
        break;
      }
  if (!h) {
    unlock();
    return Hold::busy;  // another CPU's delivery holds the page, or every slot is taken
  }
  for (uint64_t i = 0; i < kPage; ++i) sink[i] = 0;
  uint64_t saved = 0;
  const ept::EptStatus st = kind == Sink::device
                                ? platform_->redirect_device(page, reinterpret_cast<uintptr_t>(sink), &saved)
                                : platform_->redirect_hidden(page, reinterpret_cast<uintptr_t>(sink));
  if (st != ept::EptStatus::ok) {
    unlock();
    return Hold::failed;
  }
  h->page = page;
  h->holders = 1;
  unlock();
  platform_->flush_this_cpu();
  s.page[index] = page;
  s.linear_page[index] = linear_page;
  s.snapped[index] = false;
  s.sunk[index] = true;
  s.saved_leaf[index] = kind == Sink::device ? saved : 0;
  s.page_count = static_cast<uint8_t>(index + 1);
  return Hold::ok;
}

ExitAction WriteMonitor::start_step(ExitContext& ctx, uint64_t page, uint64_t linear_page, const Event& tmpl,
                                    Sink sink) {
  VcpuMonitor& s = ctx.vcpu.monitor;
  const uint64_t generation = s.ept_generation;
  s = VcpuMonitor{};
  s.ept_generation = generation;
  s.timer_value = kTimerFirst;
  s.rip = tmpl.rip;
  s.insn_length = tmpl.insn_length;
  for (unsigned i = 0; i < kInsnBytes; ++i) s.insn[i] = tmpl.insn[i];
  switch (hold_page(ctx.vcpu, page, linear_page, sink)) {
    case Hold::ok: break;
    case Hold::busy: return ExitAction::resume();  // RIP unchanged: the write exits again
    case Hold::failed: return ExitAction::stop("EPT write monitor: could not make a watched page writable for a step");
  }
  if (!arm_step(ctx.vmcs, method_, s.timer_value))
    return ExitAction::stop("EPT write monitor: could not arm the single-step exit (VMWRITE failed)");
  s.stepping = true;
  if (sink == Sink::none) __atomic_add_fetch(&fallbacks_, 1, __ATOMIC_RELAXED);
  return ExitAction::resume();
}

// ---- exits during event delivery (ExitContext::event_delivery) ----------------------------
// The dispatcher has injected the interrupted event again; the delivery is what gets
// single-stepped here (its pushes are the only writes), never the instruction at RIP.

ExitAction WriteMonitor::on_event_delivery(ExitContext& ctx, uint64_t gpa) {
  return step_delivery(ctx, page_of(gpa), Sink::none);
}

ExitAction WriteMonitor::sink_delivery_write(ExitContext& ctx, uint64_t gpa) {
  if (!platform_ || !snapshots_)
    return ExitAction::stop("event delivery into hypervisor memory, and no step mechanism to complete it");
  return step_delivery(ctx, page_of(gpa), Sink::hidden);
}

ExitAction WriteMonitor::sink_apic_delivery(ExitContext& ctx, uint64_t gpa) {
  if (!platform_ || !snapshots_)
    return ExitAction::stop("event delivery onto the local-APIC page, and no step mechanism to complete it");
  return step_delivery(ctx, page_of(gpa), Sink::device);
}

ExitAction WriteMonitor::step_delivery(ExitContext& ctx, uint64_t page, Sink sink) {
  const uint64_t linear_page = exit_linear_page(ctx.vmcs);
  VcpuMonitor& s = ctx.vcpu.monitor;
  if (s.stepping) {  // the delivery's next page (a frame across a page boundary)
    for (unsigned i = 0; i < s.page_count; ++i)
      if (s.page[i] == page) {
        platform_->flush_this_cpu();  // held for this step already: a stale translation
        return ExitAction::resume();
      }
    if (sink == Sink::none) return extend_step(ctx, page, linear_page);
    if (s.page_count == kMaxStepPages)
      return ExitAction::stop("EPT write monitor: one event delivery writes more pages than kMaxStepPages");
    switch (hold_page(ctx.vcpu, page, linear_page, sink)) {
      case Hold::ok:
      case Hold::busy: return ExitAction::resume();
      case Hold::failed: break;
    }
    return ExitAction::stop("event delivery into hypervisor memory: no sink page left for this step");
  }
  if (sink == Sink::none && flushed_stale_translation(page)) return ExitAction::resume();  // the delivery runs again
  // The events of the delivery's pushes name the interrupted RIP and no instruction bytes.
  Event tmpl{};
  tmpl.cpu = ctx.vcpu.index;
  tmpl.kind = EventKind::fallback;
  tmpl.rip = ctx.vmcs.read(VmcsField::guest_rip);
  return start_step(ctx, page, linear_page, tmpl, sink);
}

// Another write exit during the step: the same instruction touches a further watched page
// (with MTF no other guest instruction runs before the step's exit).
ExitAction WriteMonitor::extend_step(ExitContext& ctx, uint64_t page, uint64_t linear_page) {
  VcpuMonitor& s = ctx.vcpu.monitor;
  for (unsigned i = 0; i < s.page_count; ++i)
    if (s.page[i] == page) {
      platform_->flush_this_cpu();  // held writable already: a stale translation
      return ExitAction::resume();
    }
  lock();
  const bool watched = page_watched_locked(page) || held_locked(page);
  unlock();
  if (!watched) {
    __atomic_add_fetch(&stale_, 1, __ATOMIC_RELAXED);
    platform_->flush_this_cpu();
    return ExitAction::resume();
  }
  if (s.page_count == kMaxStepPages)
    return ExitAction::stop("EPT write monitor: one single-stepped instruction writes more watched pages than kMaxStepPages");
  switch (hold_page(ctx.vcpu, page, linear_page)) {
    case Hold::ok:
    case Hold::busy: return ExitAction::resume();
    case Hold::failed: break;
  }
  return ExitAction::stop("EPT write monitor: could not make a watched page writable for a step");
}

// Each run of changed bytes of page `index` that lies inside a watched range becomes fallback
// events of at most kMaxEventBytes; the old bytes come from the snapshot, the new ones from
// the page now.
void WriteMonitor::diff_page_locked(Vcpu& vcpu, unsigned index) {
  VcpuMonitor& s = vcpu.monitor;
  const uint64_t page = s.page[index];
  const uint8_t* snap = snapshot_of(vcpu, index);
  // The watched parts of the page, in address order.
  uint64_t lo[kMaxRanges], hi[kMaxRanges];
  unsigned parts = 0;
  for (const Range& r : ranges_) {
    if (!r.size || !overlaps(r.gpa, r.size, page, kPage)) continue;
    uint64_t a = r.gpa > page ? r.gpa : page;
    uint64_t b = r.gpa + r.size < page + kPage ? r.gpa + r.size : page + kPage;
    unsigned at = parts++;
    while (at && lo[at - 1] > a) {
      lo[at] = lo[at - 1];
      hi[at] = hi[at - 1];
      --at;
    }
    lo[at] = a;
    hi[at] = b;
  }
  Event e{};
  e.cpu = vcpu.index;
  e.kind = EventKind::fallback;
  capture_event_egprs(vcpu.regs, vcpu.xstate.xcr0, e);
  e.rip = s.rip;
  e.insn_length = s.insn_length;
  for (unsigned i = 0; i < kInsnBytes; ++i) e.insn[i] = s.insn[i];
  uint8_t now[64];
  uint8_t old_run[kMaxEventBytes], new_run[kMaxEventBytes];
  for (unsigned p = 0; p < parts; ++p) {
    unsigned run = 0;
    uint64_t run_start = 0;
    auto flush = [&]() {
      if (!run) return;
      e.gpa = run_start;
      e.linear = s.linear_page[index] == kUnknown ? 0 : s.linear_page[index] + (run_start - page);
      e.size = static_cast<uint8_t>(run);
      e.old_value = arch::load_le(old_run, run);
      e.new_value = arch::load_le(new_run, run);
      record_locked(e);
      run = 0;
    };
    for (uint64_t at = lo[p]; at < hi[p]; at += sizeof now) {
      const unsigned n = hi[p] - at < sizeof now ? static_cast<unsigned>(hi[p] - at) : static_cast<unsigned>(sizeof now);
      if (platform_->phys().read(at, now, n) != guest_memory::PhysStatus::ok) break;
      for (unsigned i = 0; i < n; ++i) {
        const uint8_t before = snap[at - page + i];
        if (before == now[i]) {
          flush();
          continue;
        }
        if (!run) run_start = at + i;
        old_run[run] = before;
        new_run[run] = now[i];
        if (++run == kMaxEventBytes) flush();
      }
    }
    flush();
  }
}

bool WriteMonitor::step_ran_locked(ExitContext& ctx) {
  const VcpuMonitor& s = ctx.vcpu.monitor;
  if (ctx.vmcs.read(VmcsField::guest_rip) != s.rip) return true;
  // RIP unchanged: a REP iteration may still have run (SDM Vol 1 7.3.9.3).
  uint8_t now[64];
  for (unsigned i = 0; i < s.page_count; ++i) {
    const uint8_t* snap = s.snapped[i] ? snapshot_of(ctx.vcpu, i) : nullptr;
    if (!snap) continue;
    for (uint64_t off = 0; off < kPage; off += sizeof now) {
      if (platform_->phys().read(s.page[i] + off, now, sizeof now) != guest_memory::PhysStatus::ok) return true;
      for (unsigned b = 0; b < sizeof now; ++b)
        if (now[b] != snap[off + b]) return true;
    }
  }
  return false;
}

ExitAction WriteMonitor::on_step_exit(ExitContext& ctx) {
  VcpuMonitor& s = ctx.vcpu.monitor;
  if (!disarm_step(ctx.vmcs)) return ExitAction::stop("EPT write monitor: could not disarm the single-step exit");
  if (!s.stepping) return ExitAction::resume();  // armed by nobody: nothing to do
  lock();
  // The preemption timer may expire before the instruction ran (the guest did nothing yet):
  // try again with twice the time (SDM Vol 3C 26.5.1: the timer counts while in non-root).
  if (method_ == StepMethod::preemption_timer && !step_ran_locked(ctx)) {
    unlock();
    if (s.timer_value < kTimerMax) s.timer_value *= 2;
    if (!arm_step(ctx.vmcs, method_, s.timer_value))
      return ExitAction::stop("EPT write monitor: could not arm the single-step exit (VMWRITE failed)");
    return ExitAction::resume();
  }
  return finish_step_locked(ctx);
}

ExitAction WriteMonitor::end_step_for_shutdown(ExitContext& ctx) {
  if (!ctx.vcpu.monitor.stepping) return ExitAction::resume();
  if (!disarm_step(ctx.vmcs)) return ExitAction::stop("EPT write monitor: could not disarm the single-step exit");
  lock();
  return finish_step_locked(ctx);
}

ExitAction WriteMonitor::finish_step_locked(ExitContext& ctx) {
  VcpuMonitor& s = ctx.vcpu.monitor;
  bool protected_again = false;
  unsigned sunk = 0, apic_sunk = 0;
  for (unsigned i = 0; i < s.page_count; ++i) {
    if (s.sunk[i]) {  // a delivery's sink: the zero page (or the APIC) again, the sink zeroed, slot freed
      if (s.saved_leaf[i])
        (void)platform_->restore_device(s.page[i], s.saved_leaf[i]);  // the 4 KiB leaf it replaced
      else
        (void)platform_->redirect_hidden(s.page[i], 0);  // a 4 KiB leaf already: cannot fail
      if (uint8_t* sink = snapshot_of(ctx.vcpu, i))
        for (uint64_t b = 0; b < kPage; ++b) sink[b] = 0;
      if (Held* h = held_locked(s.page[i])) h->holders = 0;
      protected_again = true;  // other CPUs may hold translations to the sink
      if (s.saved_leaf[i])
        ++apic_sunk;
      else
        ++sunk;
      continue;
    }
    if (s.snapped[i])
      diff_page_locked(ctx.vcpu, i);
    else if (page_watched_locked(s.page[i]))
      ++dropped_;  // its writes, if any, went unrecorded
    Held* h = held_locked(s.page[i]);
    if (h && --h->holders == 0 && page_watched_locked(s.page[i])) {
      (void)platform_->set_write_protect(s.page[i], kPage, true);  // split already: cannot fail
      protected_again = true;
    }
  }
  // Every CPU may have cached a writable translation while the page was open.
  if (protected_again) bump_generation_locked();
  const uint64_t generation_now = generation();  // read before the flush that covers it
  unlock();
  platform_->flush_this_cpu();
  s.ept_generation = generation_now;
  s.stepping = false;
  s.page_count = 0;
  // Each sunk page took at least one discarded push: counted and logged (rate-limited, a
  // guest-caused line) as every discarded write into hypervisor memory is.
  for (unsigned i = 0; i < sunk; ++i) guest_memory::count_discarded_write(ctx.vcpu);
  if (apic_sunk)
    APEX_LOG_GUEST(warn, "cpu%u: an event delivery pushed its frame onto the local-APIC page: the pushes were discarded",
                   ctx.vcpu.index);
  return ExitAction::resume();
}

}  // namespace vmm::monitor
