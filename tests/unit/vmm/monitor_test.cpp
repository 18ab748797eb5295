// The EPT write monitor (issue P4, vmm/monitor/write_monitor.hpp) over fakes: the range table
// and its refusals, the RAM map, the event ring, emulated writes through real EPT-violation
// exits (dispatcher, handler, emulator over a 4-level guest page table), the MTF
// single-step fallback state machine, INVEPT bookkeeping and the hypercall ABI (16-19).
#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emulate/emulate_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/hypercall.hpp"
#include "vmm/monitor/monitor_abi.hpp"
#include "vmm/monitor/ram_map.hpp"
#include "vmm/monitor/write_monitor.hpp"

using namespace vmm_test;
using arch::Gpr;
using vmm::monitor::EventKind;
using vmm::monitor::Status;
using vmx::ExitReason;

namespace {

constexpr uint64_t kPage = 4096;

// The machine as the monitor sees it: RAM below 16 MiB except a hole at 0xA0000-0xFFFFF,
// hypervisor pages at 0x800000-0x801FFF (hidden in the EPT), the EPT map ending at 4 GiB.
// EPT rights per page (default writable); a table-page budget to make splits fail.
class FakePlatform final : public vmm::monitor::Platform {
 public:
  FakePlatform() {
    ram.add(0, 0xA0000);
    ram.add(0x100000, 0xF00000);
    for (uint64_t p = 0x800000; p < 0x802000; p += kPage) hidden.insert(p);
  }

  bool is_ram(uint64_t gpa, uint64_t size) override { return ram.contains(gpa, size); }
  vmm::ept::EptStatus set_write_protect(uint64_t gpa, uint64_t size, bool protect) override {
    ++protect_calls;
    const uint64_t first = gpa & ~(kPage - 1), last = (gpa + size - 1) & ~(kPage - 1);
    if (gpa + size > kTop) return vmm::ept::EptStatus::not_mapped;
    for (uint64_t p = first; p <= last; p += kPage)
      if (hidden.count(p)) return vmm::ept::EptStatus::hidden_page;
    for (uint64_t p = first; p <= last; p += kPage) {
      if (protect && !split.count(p)) {  // the first protection of a page "splits" a table
        if (split_budget == 0) return vmm::ept::EptStatus::out_of_memory;
        --split_budget;
        split.insert(p);
      }
      if (protect)
        write_protected.insert(p);
      else
        write_protected.erase(p);
    }
    return vmm::ept::EptStatus::ok;
  }
  // A hidden page pointed at a sink (or back at the zero page: 0); refused for any other page.
  vmm::ept::EptStatus redirect_hidden(uint64_t page, uint64_t sink_hpa) override {
    if (!hidden.count(page)) return vmm::ept::EptStatus::not_mapped;
    if (sink_hpa)
      sunk[page] = sink_hpa;
    else
      sunk.erase(page);
    return vmm::ept::EptStatus::ok;
  }
  // The local-APIC page (kApicPage only) pointed at a sink; restored with the saved entry.
  vmm::ept::EptStatus redirect_device(uint64_t page, uint64_t sink_hpa, uint64_t* saved) override {
    if (page != kApicPage) return vmm::ept::EptStatus::not_mapped;
    device_sunk[page] = sink_hpa;
    *saved = kApicLeaf;
    return vmm::ept::EptStatus::ok;
  }
  vmm::ept::EptStatus restore_device(uint64_t page, uint64_t saved) override {
    restored[page] = saved;
    device_sunk.erase(page);
    return vmm::ept::EptStatus::ok;
  }
  bool ept_allows_write(uint64_t gpa) override {
    const uint64_t p = gpa & ~(kPage - 1);
    return gpa < kTop && !hidden.count(p) && !write_protected.count(p);
  }
  void flush_this_cpu() override { ++flushes; }
  vmm::guest_memory::GuestPhysMemory& phys() override { return mem; }

  bool wp(uint64_t page) const { return write_protected.count(page) != 0; }

  static constexpr uint64_t kTop = 4ull << 30;
  vmm::monitor::RamMap ram;
  std::set<uint64_t> hidden, write_protected, split;
  std::map<uint64_t, uint64_t> sunk;  // hidden page -> the sink it points at now
  static constexpr uint64_t kApicPage = 0xfee00000, kApicLeaf = 0xfee00000 | 5;  // R+X, UC
  std::map<uint64_t, uint64_t> device_sunk, restored;
  unsigned split_budget = 1000;
  unsigned flushes = 0, protect_calls = 0;
  emu_test::FakePhys mem;
};

// One CPU's exits against the monitor: a 64-bit guest with 4-level paging (identity for
// the code at 0x400000 and the data pages at 0x200000-0x203FFF), the monitor registered
// as the EPT write-intercept owner and as the machine's monitor (hypercalls, MTF).
struct MonitorRig {
  FakePlatform platform;
  vmm::monitor::WriteMonitor* monitor = new vmm::monitor::WriteMonitor();  // large ring: heap
  std::vector<uint8_t> snapshots = std::vector<uint8_t>(8 * vmm::monitor::kFallbackPages * kPage);
  emu_test::PageTables pt{platform.mem, emu_test::PageTables::Mode::level4};
  // GuestPolicy::guest_ram of every CPU: the routed view, watched pages to the monitor.
  vmm::guest_memory::GuestPhysView view{&platform.mem, nullptr, exit_now};

  MonitorRig() {
    vmm::reset_ept_write_intercepts();
    monitor->init(&platform, snapshots.data(), 8);  // CPUs 0-7 snapshot
    view.route_watched(monitor);
    REQUIRE(vmm::register_ept_write_intercept(monitor));
    vmm::monitor::set_write_monitor(monitor);
    using emu_test::pte::P;
    using emu_test::pte::RW;
    pt.map(0x400000, 0x400000, P | RW);
    for (uint64_t p = 0x200000; p < 0x204000; p += kPage) {
      pt.map(p, p, P | RW);
      for (unsigned i = 0; i < kPage; i += 8) platform.mem.poke64(p + i, 0xA0A0A0A000000000ull | (p + i));
    }
  }
  ~MonitorRig() {
    vmm::monitor::set_write_monitor(nullptr);
    vmm::reset_ept_write_intercepts();
    delete monitor;
  }

  // A CPU of this machine: its own vCPU and VMCS.
  struct Cpu {
    HandlerFixture f;
    Cpu(MonitorRig& rig, unsigned index) {
      f.vcpu.index = index;
      f.policy.guest_ram = &rig.view;
      f.vmcs.set(VmcsField::guest_cr3, rig.pt.cr3());
      f.vmcs.set(VmcsField::guest_cs_access_rights, 0xa09b);
      f.vmcs.set(VmcsField::guest_ss_access_rights, 0xc093);
      for (VmcsField s : {VmcsField::guest_ds_access_rights, VmcsField::guest_es_access_rights})
        f.vmcs.set(s, 0xc093);
      for (VmcsField s : {VmcsField::guest_ds_limit, VmcsField::guest_es_limit, VmcsField::guest_ss_limit,
                          VmcsField::guest_cs_limit})
        f.vmcs.set(s, 0xffffffff);
    }
    // The guest at 0x400000 executes `code`, which writes guest-physical `gpa` (identity).
    vmm::ExitAction write_exit(MonitorRig& rig, const emu_test::Bytes& code, uint64_t gpa) {
      rig.platform.mem.poke(0x400000, code.data(), code.size());
      f.vmcs.set(VmcsField::guest_rip, 0x400000);
      f.vmcs.set(VmcsField::vm_exit_instruction_length, code.size());
      // SDM Vol 3C Table 28-7: data write (1), readable (3), executable (5), linear valid (7),
      // access to the translated address (8).
      f.vmcs.set(VmcsField::exit_qualification, (1u << 1) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8));
      f.vmcs.set(VmcsField::guest_physical_address, gpa);
      f.vmcs.set(VmcsField::guest_linear_address, gpa);
      return f.exit(ExitReason::ept_violation);
    }
    uint64_t rip() const { return f.vmcs.get(VmcsField::guest_rip); }
    bool mtf() const {
      return f.vmcs.get(VmcsField::primary_processor_based_controls) & vmx::proc::monitor_trap_flag;
    }
    uint64_t& gpr(Gpr g) { return f.gpr(g); }
  };

  vmm::monitor::Event event(uint64_t seq) {
    vmm::monitor::Event e{};
    REQUIRE(monitor->read_event(seq, &e) == Status::ok);
    return e;
  }
  uint64_t recorded() { return monitor->stats().recorded; }
  uint64_t peek(uint64_t gpa, unsigned n = 8) { return platform.mem.peek(gpa, n); }
};

uint64_t pattern(uint64_t gpa) { return 0xA0A0A0A000000000ull | gpa; }  // initial qword at gpa

}  // namespace

// ---- the RAM map ---------------------------------------------------------------------

TEST_CASE("monitor RAM map: merging, containment, UEFI types") {
  vmm::monitor::RamMap m;
  CHECK(m.add(0x1000, 0x1000));
  CHECK(m.add(0x3000, 0x1000));
  CHECK(m.count() == 2);
  CHECK_FALSE(m.contains(0x1000, 0x3000));  // the hole at 0x2000
  CHECK(m.add(0x2000, 0x1000));             // adjacent on both sides: one range
  CHECK(m.count() == 1);
  CHECK(m.contains(0x1000, 0x3000));
  CHECK(m.contains(0x3fff, 1));
  CHECK_FALSE(m.contains(0x3fff, 2));
  CHECK_FALSE(m.contains(0x1000, 0));
  CHECK(m.add(0x800, 0x10000));  // overlapping and covering
  CHECK(m.count() == 1);
  CHECK(m.contains(0x800, 0x10000));
  CHECK_FALSE(m.add(0x1000, 0));
  CHECK_FALSE(m.add(~0ull, 2));

  struct Row {
    uint32_t type;
    bool ram;
  };
  const Row rows[] = {{0, false}, {1, true},  {2, true},   {3, true},   {4, true},  {5, true},
                      {6, true},  {7, true},  {8, false},  {9, true},   {10, true}, {11, false},
                      {12, false}, {13, false}, {14, true}, {15, false}, {0x70000000, false}};
  for (const Row& r : rows) {
    CAPTURE(r.type);
    vmm::monitor::RamMap t;
    CHECK(t.add_uefi_descriptor(r.type, 0x100000, 2) == r.ram);
    CHECK(t.contains(0x100000, 0x2000) == r.ram);
  }
  vmm::monitor::RamMap full;
  for (unsigned i = 0; i < vmm::monitor::RamMap::kMaxRanges; ++i) CHECK(full.add(i * 0x10000ull, 0x1000));
  CHECK_FALSE(full.add(0x10000000, 0x1000));  // full: refused, never a false acceptance
  CHECK(full.add(0x1000, 0x1000));            // merging into an existing range still works
}

// ---- ranges ----------------------------------------------------------------------------

TEST_CASE("monitor ranges: additions and their refusals") {
  MonitorRig rig;
  auto& m = *rig.monitor;
  struct Row {
    const char* what;
    uint64_t gpa, size;
    Status status;
  };
  const Row rows[] = {
      {"one page", 0x200000, 0x1000, Status::ok},
      {"part of a page", 0x201100, 0x100, Status::ok},
      {"the same page, disjoint bytes", 0x201300, 0x10, Status::ok},
      {"overlaps the first range", 0x200ff8, 0x10, Status::overlap},
      {"overlaps by one byte", 0x2011ff, 1, Status::overlap},
      {"empty", 0x300000, 0, Status::bad_range},
      {"wraps", ~0ull - 0x10, 0x100, Status::bad_range},
      {"MMIO/hole (0xA0000)", 0xA0000, 0x1000, Status::not_guest_ram},
      {"straddles RAM and the hole", 0x9f000, 0x2000, Status::not_guest_ram},
      {"above RAM", 0x2000000, 0x1000, Status::not_guest_ram},
      {"hypervisor memory", 0x800800, 0x10, Status::not_guest_ram},
      {"ends in hypervisor memory", 0x7ff000, 0x1001, Status::not_guest_ram},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(m.add(r.gpa, r.size) == r.status);
  }
  CHECK(m.stats().ranges == 3);
  CHECK(rig.platform.wp(0x200000));
  CHECK(rig.platform.wp(0x201000));
  CHECK_FALSE(rig.platform.wp(0x202000));
  CHECK(rig.platform.hidden.size() == 2);  // untouched
  // Each addition write-protects, bumps the generation, and flushes the calling CPU.
  CHECK(m.generation() == 3);
  CHECK(rig.platform.flushes == 3);

  SECTION("the table holds kMaxRanges") {
    for (unsigned i = 3; i < vmm::monitor::kMaxRanges; ++i) CHECK(m.add(0x300000 + i * 0x10, 8) == Status::ok);
    CHECK(m.add(0x310000, 8) == Status::table_full);
    CHECK(m.remove(0x300030, 8) == Status::ok);
    CHECK(m.add(0x310000, 8) == Status::ok);  // the freed slot
  }
  SECTION("removal needs the exact range; a shared page stays protected") {
    CHECK(m.remove(0x201100, 0x10) == Status::no_such_range);
    CHECK(m.remove(0x201000, 0x1000) == Status::no_such_range);
    CHECK(m.remove(0x201100, 0x100) == Status::ok);
    CHECK(rig.platform.wp(0x201000));  // 0x201300+0x10 is still watched there
    CHECK(m.remove(0x201300, 0x10) == Status::ok);
    CHECK_FALSE(rig.platform.wp(0x201000));
    CHECK(m.remove(0x201300, 0x10) == Status::no_such_range);
    CHECK(m.stats().ranges == 1);
  }
  SECTION("running out of EPT table pages undoes the addition, neighbours intact") {
    rig.platform.split_budget = 1;  // 0x202000 splits, 0x203000 does not
    CHECK(m.add(0x201308, 0x2000) == Status::overlap);  // refused before the EPT is touched
    CHECK(m.add(0x201400, 0x2000) == Status::ept_failed);
    CHECK(rig.platform.wp(0x201000));  // the neighbours' shared page: protected again
    CHECK_FALSE(rig.platform.wp(0x202000));
    CHECK_FALSE(rig.platform.wp(0x203000));
    CHECK(m.stats().ranges == 3);
  }
  SECTION("the ranges as listed") {
    vmm::monitor::Range r{};
    CHECK(m.range_at(0, &r));
    CHECK(r.gpa == 0x200000);
    CHECK(r.size == 0x1000);
    CHECK_FALSE(m.range_at(3, &r));
    CHECK_FALSE(m.range_at(vmm::monitor::kMaxRanges, &r));
  }
}

TEST_CASE("monitor without a platform: unavailable") {
  auto* m = new vmm::monitor::WriteMonitor();
  vmm::monitor::Event e{};
  CHECK(m->add(0x1000, 8) == Status::unavailable);
  CHECK(m->remove(0x1000, 8) == Status::unavailable);
  CHECK(m->read_event(0, &e) == Status::unavailable);
  CHECK_FALSE(m->covers(0x1000));
  delete m;
}

// ---- emulated writes ---------------------------------------------------------------------

TEST_CASE("monitor: a write into a watched range is emulated and recorded") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x800) == Status::ok);
  MonitorRig::Cpu cpu(rig, 1);
  struct Row {
    const char* what;
    emu_test::Bytes code;
    uint64_t rdi, rax, rcx;
    uint64_t gpa;          // first byte the instruction writes
    unsigned events;       // events recorded
    unsigned size;         // of each
    uint64_t new_value;    // of the first event
    uint64_t rip_after;
  };
  const Row rows[] = {
      {"mov [rdi+8], rax", {0x48, 0x89, 0x47, 0x08}, 0x200000, 0x1122334455667788, 0, 0x200008, 1, 8,
       0x1122334455667788, 0x400004},
      {"mov byte [rdi], 0x5a", {0xc6, 0x07, 0x5a}, 0x200010, 0, 0, 0x200010, 1, 1, 0x5a, 0x400003},
      {"mov word [rdi+2], ax", {0x66, 0x89, 0x47, 0x02}, 0x200020, 0xbeef, 0, 0x200022, 1, 2, 0xbeef, 0x400004},
      {"add dword [rdi], 1", {0x83, 0x07, 0x01}, 0x200030, 0, 0, 0x200030, 1, 4, (pattern(0x200030) + 1) & 0xffffffff,
       0x400003},
      {"xchg [rdi], rax (locked compare-exchange)", {0x48, 0x87, 0x07}, 0x200040, 7, 0, 0x200040, 1, 8, 7, 0x400003},
      {"lock inc qword [rdi]", {0xf0, 0x48, 0xff, 0x07}, 0x200048, 0, 0, 0x200048, 1, 8, pattern(0x200048) + 1,
       0x400004},
      {"rep stosb, 3 bytes", {0xf3, 0xaa}, 0x200050, 0xcc, 3, 0x200050, 3, 1, 0xcc, 0x400002},
      {"stosq", {0x48, 0xab}, 0x200058, 0xfeed, 0, 0x200058, 1, 8, 0xfeed, 0x400002},
      {"write in the unwatched part of the page", {0x48, 0x89, 0x07}, 0x200900, 0x77, 0, 0x200900, 0, 0, 0,
       0x400003},
      {"straddling the range end: the whole write", {0x48, 0x89, 0x07}, 0x2007fc, 0x1111111111111111, 0,
       0x2007fc, 1, 8, 0x1111111111111111, 0x400003},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    const uint64_t before = rig.recorded();
    const uint64_t old_value = rig.peek(r.gpa);
    cpu.gpr(Gpr::rdi) = r.rdi;
    cpu.gpr(Gpr::rax) = r.rax;
    cpu.gpr(Gpr::rcx) = r.rcx;
    CHECK(outcome_of(cpu.write_exit(rig, r.code, r.gpa)) == Outcome::resume);
    CHECK(cpu.rip() == r.rip_after);
    CHECK_FALSE(cpu.mtf());
    REQUIRE(rig.recorded() == before + r.events);
    if (r.events == 0) {
      CHECK(rig.peek(r.gpa) == r.rax);  // written all the same
      continue;
    }
    const auto e = rig.event(before);
    CHECK(e.seq == before);
    CHECK(e.gpa == r.gpa);
    CHECK(e.linear == r.gpa);
    CHECK(e.rip == 0x400000);
    CHECK(e.cpu == 1);
    CHECK(e.kind == EventKind::emulated);
    CHECK(e.size == r.size);
    const uint64_t m = r.size == 8 ? ~0ull : (1ull << (8 * r.size)) - 1;
    CHECK(e.old_value == (old_value & m));
    CHECK(e.new_value == r.new_value);
    CHECK(e.insn_length == r.code.size());
    for (unsigned i = 0; i < vmm::monitor::kInsnBytes; ++i) {
      CAPTURE(i);
      CHECK(e.insn[i] == (i < r.code.size() ? r.code[i] : 0));
    }
    for (unsigned k = 1; k < r.events; ++k) {
      const auto ek = rig.event(before + k);
      CHECK(ek.gpa == r.gpa + k * r.size);
      CHECK(ek.rip == 0x400000);
    }
  }
  const auto s = rig.monitor->stats();
  CHECK(s.emulated == std::size(rows));
  CHECK(s.fallbacks == 0);
  CHECK(s.dropped == 0);
}

TEST_CASE("monitor: a stale read-only translation is flushed and retried, not emulated") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 0);
  REQUIRE(rig.monitor->add(0x200000, 8) == Status::ok);
  REQUIRE(rig.monitor->remove(0x200000, 8) == Status::ok);
  CHECK(rig.monitor->covers(0x200000));  // writable in the EPT now: a stale exit is ours
  CHECK_FALSE(rig.monitor->covers(0x800000));  // hidden: not ours, the guest is stopped
  const unsigned flushes = rig.platform.flushes;
  cpu.gpr(Gpr::rdi) = 0x200000;
  CHECK(outcome_of(cpu.write_exit(rig, {0x48, 0x89, 0x07}, 0x200000)) == Outcome::resume);
  CHECK(cpu.rip() == 0x400000);  // retried by the guest
  CHECK(rig.platform.flushes == flushes + 1);
  CHECK(rig.recorded() == 0);
  CHECK(rig.monitor->stats().stale == 1);
  // An EPT violation nobody owns still stops the guest (hypervisor memory).
  CHECK(outcome_of(cpu.write_exit(rig, {0x48, 0x89, 0x07}, 0x800000)) == Outcome::stop);
}

// ---- the MTF fallback --------------------------------------------------------------------

TEST_CASE("monitor fallback: an instruction the emulator lacks is single-stepped under MTF") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x100) == Status::ok);
  MonitorRig::Cpu cpu(rig, 2);
  cpu.gpr(Gpr::rdi) = 0x200010;
  const emu_test::Bytes cmpxchg = {0x48, 0x0f, 0xb1, 0x0f};  // cmpxchg [rdi], rcx
  const uint64_t generation = rig.monitor->generation();

  // The write exit: not emulated; the page becomes writable, MTF is set, RIP stays.
  CHECK(outcome_of(cpu.write_exit(rig, cmpxchg, 0x200010)) == Outcome::resume);
  CHECK(cpu.rip() == 0x400000);
  CHECK(cpu.mtf());
  CHECK_FALSE(rig.platform.wp(0x200000));
  CHECK(cpu.f.vcpu.monitor.stepping);
  CHECK(rig.recorded() == 0);
  CHECK(rig.monitor->stats().fallbacks == 1);
  CHECK(rig.monitor->covers(0x200000));

  SECTION("the step changed 8 bytes in the range: one fallback event") {
    rig.platform.mem.poke64(0x200010, 0x0123456789abcdefull);  // what the guest's CMPXCHG did
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK_FALSE(cpu.mtf());
    CHECK(rig.platform.wp(0x200000));
    CHECK_FALSE(cpu.f.vcpu.monitor.stepping);
    CHECK(rig.monitor->generation() == generation + 1);  // others drop writable translations
    REQUIRE(rig.recorded() == 1);
    const auto e = rig.event(0);
    CHECK(e.kind == EventKind::fallback);
    CHECK(e.gpa == 0x200010);
    CHECK(e.linear == 0x200010);
    CHECK(e.size == 8);
    CHECK(e.old_value == pattern(0x200010));
    CHECK(e.new_value == 0x0123456789abcdefull);
    CHECK(e.rip == 0x400000);
    CHECK(e.cpu == 2);
    CHECK(e.insn_length == 4);
    CHECK(e.insn[0] == 0x48);
    CHECK(e.insn[3] == 0x0f);
    CHECK(e.insn[4] == 0);
  }
  SECTION("changed bytes are reported as runs of at most 8, only inside the range") {
    rig.platform.mem.poke32(0x200021, 0x11223344u ^ static_cast<uint32_t>(pattern(0x200020) >> 8));
    std::vector<uint8_t> twelve(12, 0x5a);
    rig.platform.mem.poke(0x200040, twelve.data(), twelve.size());
    rig.platform.mem.poke64(0x200200, 0);  // outside the range, same page: not reported
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    REQUIRE(rig.recorded() == 3);
    const auto a = rig.event(0), b = rig.event(1), c = rig.event(2);
    CHECK(a.gpa == 0x200021);
    CHECK(a.size == 4);
    CHECK(b.gpa == 0x200040);
    CHECK(b.size == 8);
    CHECK(b.new_value == 0x5a5a5a5a5a5a5a5aull);
    CHECK(b.old_value == pattern(0x200040));
    CHECK(c.gpa == 0x200048);
    CHECK(c.size == 4);
    CHECK(c.old_value == (pattern(0x200048) & 0xffffffff));
  }
  SECTION("nothing changed (an event was delivered first): no event, the page protected again") {
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.recorded() == 0);
    CHECK(rig.platform.wp(0x200000));
    CHECK_FALSE(cpu.mtf());
  }
  SECTION("the same instruction touches a second watched page during the step") {
    REQUIRE(rig.monitor->add(0x201000, 0x10) == Status::ok);
    CHECK(outcome_of(cpu.write_exit(rig, cmpxchg, 0x201000)) == Outcome::resume);
    CHECK_FALSE(rig.platform.wp(0x201000));
    CHECK(cpu.f.vcpu.monitor.page_count == 2);
    // A stale exit on a page already held: flush, no new hold.
    CHECK(outcome_of(cpu.write_exit(rig, cmpxchg, 0x200010)) == Outcome::resume);
    CHECK(cpu.f.vcpu.monitor.page_count == 2);
    rig.platform.mem.poke(0x201000, "\x01\x02", 2);
    rig.platform.mem.poke(0x200010, "\x03", 1);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    REQUIRE(rig.recorded() == 2);
    CHECK(rig.event(0).gpa == 0x200010);
    CHECK(rig.event(1).gpa == 0x201000);
    CHECK(rig.event(1).size == 2);
    CHECK(rig.event(1).new_value == 0x0201);
    CHECK(rig.platform.wp(0x200000));
    CHECK(rig.platform.wp(0x201000));
  }
  SECTION("a second CPU stepping on the same page keeps it writable until both are done") {
    MonitorRig::Cpu other(rig, 3);
    other.gpr(Gpr::rdi) = 0x200080;
    CHECK(outcome_of(other.write_exit(rig, cmpxchg, 0x200080)) == Outcome::resume);
    CHECK(other.mtf());
    rig.platform.mem.poke(0x200080, "\x42", 1);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK_FALSE(rig.platform.wp(0x200000));  // still held by CPU 3
    // CPU 2's diff saw CPU 3's write (the documented limit); CPU 3's sees it too.
    CHECK(outcome_of(other.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.platform.wp(0x200000));
    REQUIRE(rig.recorded() == 2);
    CHECK(rig.event(0).cpu == 2);
    CHECK(rig.event(1).cpu == 3);
    CHECK(rig.event(1).gpa == 0x200080);
  }
  SECTION("the range is removed during the step: the page stays writable afterwards") {
    REQUIRE(rig.monitor->remove(0x200000, 0x100) == Status::ok);
    rig.platform.mem.poke(0x200010, "\x99", 1);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.recorded() == 0);
    CHECK_FALSE(rig.platform.wp(0x200000));
  }
  SECTION("a range added over a held page does not close it under the step") {
    REQUIRE(rig.monitor->add(0x200800, 0x10) == Status::ok);
    CHECK_FALSE(rig.platform.wp(0x200000));
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.platform.wp(0x200000));
  }
}

TEST_CASE("monitor fallback: pages past the snapshots open unrecorded; past kMaxStepPages the guest stops") {
  MonitorRig rig;
  constexpr uint64_t kBytes = (vmm::monitor::kMaxStepPages + 1) * kPage;  // one page past the bound
  REQUIRE(rig.monitor->add(0x600000, kBytes) == Status::ok);
  for (uint64_t p = 0x600000; p < 0x600000 + kBytes; p += kPage) {
    rig.pt.map(p, p, emu_test::pte::P | emu_test::pte::RW);
    rig.platform.mem.map_ram(p, kPage);
  }
  MonitorRig::Cpu cpu(rig, 0);
  const emu_test::Bytes xsave = {0x0f, 0xae, 0x27};  // xsave [rdi]: not emulated
  cpu.gpr(Gpr::rdi) = 0x600000;
  for (unsigned i = 0; i < vmm::monitor::kMaxStepPages; ++i) {
    CAPTURE(i);
    CHECK(outcome_of(cpu.write_exit(rig, xsave, 0x600000 + i * kPage)) == Outcome::resume);
    CHECK(cpu.f.vcpu.monitor.page_count == i + 1);
    CHECK(cpu.f.vcpu.monitor.snapped[i] == (i < vmm::monitor::kFallbackPages));
    CHECK_FALSE(rig.platform.wp(0x600000 + i * kPage));
  }
  SECTION("the step ends: snapshotted pages diffed, the others counted as dropped") {
    rig.platform.mem.poke(0x601000, "\x11", 1);
    rig.platform.mem.poke(0x602000, "\x22", 1);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.recorded() == 1);
    CHECK(rig.event(0).gpa == 0x601000);
    CHECK(rig.monitor->stats().dropped == vmm::monitor::kMaxStepPages - vmm::monitor::kFallbackPages);
    for (unsigned i = 0; i < vmm::monitor::kMaxStepPages; ++i) CHECK(rig.platform.wp(0x600000 + i * kPage));
  }
  SECTION("one page more: stopped with the reason") {
    const auto a = cpu.write_exit(rig, xsave, 0x600000 + vmm::monitor::kMaxStepPages * kPage);
    CHECK(outcome_of(a) == Outcome::stop);
    CHECK(std::string(a.reason).find("kMaxStepPages") != std::string::npos);
  }
}

TEST_CASE("monitor fallback: locked instructions the emulator lacks are stepped, not #UD") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x100) == Status::ok);
  struct Row {
    const char* what;
    emu_test::Bytes code;
  };
  const Row rows[] = {
      {"lock cmpxchg [rdi], rcx", {0xf0, 0x48, 0x0f, 0xb1, 0x0f}},
      {"lock xadd [rdi], eax", {0xf0, 0x0f, 0xc1, 0x07}},
      {"lock cmpxchg8b [rdi]", {0xf0, 0x0f, 0xc7, 0x0f}},
      {"lock cmpxchg16b [rdi]", {0xf0, 0x48, 0x0f, 0xc7, 0x0f}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    MonitorRig::Cpu cpu(rig, 1);
    cpu.gpr(Gpr::rdi) = 0x200040;
    CHECK(outcome_of(cpu.write_exit(rig, r.code, 0x200040)) == Outcome::resume);
    CHECK(cpu.mtf());
    CHECK(cpu.rip() == 0x400000);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  }
}

// EVEX writes (AVX-512, APX map 4) are not emulated (KVM emulates no EVEX); on a watched RAM
// page the guest runs them itself under a single step, as KVM re-executes on write-tracked RAM
// (vmm/handlers/emulate_at_rip.hpp): never #UD there, and the write is recorded as a fallback.
TEST_CASE("monitor fallback: EVEX writes are single-stepped and recorded, not #UD") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x100) == Status::ok);
  struct Row {
    const char* what;
    emu_test::Bytes code;
    bool apx;
  };
  const Row rows[] = {
      {"vmovdqu32 [rdi], zmm0", {0x62, 0xf1, 0x7e, 0x48, 0x7f, 0x07}, false},
      {"{evex} not qword [rdi] (APX map 4)", {0x62, 0xf4, 0xfc, 0x08, 0xf7, 0x17}, true},
  };
  uint64_t seq = 0;
  for (const Row& r : rows) {
    CAPTURE(r.what);
    MonitorRig::Cpu cpu(rig, 1);
    cpu.f.vcpu.xstate.save_egprs = r.apx;
    cpu.gpr(Gpr::rdi) = 0x200040;
    CHECK(outcome_of(cpu.write_exit(rig, r.code, 0x200040)) == Outcome::resume);
    CHECK(cpu.mtf());
    CHECK(cpu.rip() == 0x400000);
    rig.platform.mem.poke64(0x200040, 0x1122334455667788ull + seq);  // what the guest's store did
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    REQUIRE(rig.recorded() == seq + 1);
    const auto e = rig.event(seq++);
    CHECK(e.kind == EventKind::fallback);
    CHECK(e.insn_length == r.code.size());
    CHECK(e.insn[0] == 0x62);
  }
}

TEST_CASE("monitor fallback without MTF: the VMX-preemption timer ends the step") {
  MonitorRig rig;
  rig.monitor->init(&rig.platform, rig.snapshots.data(), 8, vmm::monitor::StepMethod::preemption_timer);
  REQUIRE(rig.monitor->add(0x200000, 0x100) == Status::ok);
  MonitorRig::Cpu cpu(rig, 1);
  cpu.gpr(Gpr::rdi) = 0x200010;
  auto timer_on = [&] { return (cpu.f.vmcs.get(VmcsField::pin_based_controls) & vmx::pin::preemption_timer) != 0; };
  CHECK(outcome_of(cpu.write_exit(rig, {0x48, 0x0f, 0xb1, 0x0f}, 0x200010)) == Outcome::resume);  // cmpxchg
  CHECK(timer_on());
  CHECK_FALSE(cpu.mtf());
  CHECK(cpu.f.vmcs.get(VmcsField::vmx_preemption_timer_value) == vmm::monitor::kTimerFirst);
  CHECK_FALSE(rig.platform.wp(0x200000));

  // The timer expired before the instruction ran: twice the time, still stepping.
  CHECK(outcome_of(cpu.f.exit(ExitReason::preemption_timer_expired)) == Outcome::resume);
  CHECK(timer_on());
  CHECK(cpu.f.vmcs.get(VmcsField::vmx_preemption_timer_value) == 2 * vmm::monitor::kTimerFirst);
  CHECK(cpu.f.vcpu.monitor.stepping);
  CHECK_FALSE(rig.platform.wp(0x200000));

  SECTION("then it ran: RIP moved on") {
    rig.platform.mem.poke64(0x200010, 0x0123456789abcdefull);
    cpu.f.vmcs.set(VmcsField::guest_rip, 0x400004);
    CHECK(outcome_of(cpu.f.exit(ExitReason::preemption_timer_expired)) == Outcome::resume);
    CHECK_FALSE(timer_on());
    CHECK_FALSE(cpu.f.vcpu.monitor.stepping);
    CHECK(rig.platform.wp(0x200000));
    REQUIRE(rig.recorded() == 1);
    CHECK(rig.event(0).kind == EventKind::fallback);
    CHECK(rig.event(0).rip == 0x400000);
    CHECK(rig.event(0).new_value == 0x0123456789abcdefull);
  }
  SECTION("then a REP iteration ran: RIP stayed, memory changed") {
    rig.platform.mem.poke(0x200010, "\x01", 1);
    CHECK(outcome_of(cpu.f.exit(ExitReason::preemption_timer_expired)) == Outcome::resume);
    CHECK_FALSE(cpu.f.vcpu.monitor.stepping);
    CHECK(rig.recorded() == 1);
  }
  SECTION("the value doubles up to kTimerMax") {
    for (int i = 0; i < 40; ++i) cpu.f.exit(ExitReason::preemption_timer_expired);
    CHECK(cpu.f.vmcs.get(VmcsField::vmx_preemption_timer_value) == vmm::monitor::kTimerMax);
    CHECK(cpu.f.vcpu.monitor.stepping);
  }
}

TEST_CASE("monitor fallback: MTF and timer exits nobody asked for only clear the controls") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 0);
  cpu.f.vmcs.set(VmcsField::primary_processor_based_controls,
                 vmx::proc::use_msr_bitmaps | vmx::proc::monitor_trap_flag);
  CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK_FALSE(cpu.mtf());
  CHECK(rig.recorded() == 0);
  vmm::monitor::set_write_monitor(nullptr);  // no monitor at all: the handler clears it too
  cpu.f.vmcs.set(VmcsField::primary_processor_based_controls, vmx::proc::monitor_trap_flag);
  CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK_FALSE(cpu.mtf());
  cpu.f.vmcs.set(VmcsField::pin_based_controls, vmx::pin::nmi_exiting | vmx::pin::preemption_timer);
  CHECK(outcome_of(cpu.f.exit(ExitReason::preemption_timer_expired)) == Outcome::resume);
  CHECK(cpu.f.vmcs.get(VmcsField::pin_based_controls) == vmx::pin::nmi_exiting);
}

TEST_CASE("monitor fallback: every hold slot taken: the instruction is retried later") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x600000, 0x100000) == Status::ok);  // 256 pages
  for (uint64_t p = 0x600000; p < 0x600000 + (vmm::monitor::kMaxHeldPages + 1) * kPage; p += kPage)
    rig.pt.map(p, p, emu_test::pte::P | emu_test::pte::RW);
  std::vector<std::unique_ptr<MonitorRig::Cpu>> cpus;
  const emu_test::Bytes xadd = {0x48, 0x0f, 0xc1, 0x07};  // xadd [rdi], rax
  for (unsigned i = 0; i < vmm::monitor::kMaxHeldPages; ++i) {
    cpus.push_back(std::make_unique<MonitorRig::Cpu>(rig, i));
    cpus.back()->gpr(Gpr::rdi) = 0x600000 + i * kPage;
    CHECK(outcome_of(cpus.back()->write_exit(rig, xadd, 0x600000 + i * kPage)) == Outcome::resume);
    CHECK(cpus.back()->mtf());
  }
  MonitorRig::Cpu late(rig, 20);
  const uint64_t page = 0x600000 + vmm::monitor::kMaxHeldPages * kPage;
  late.gpr(Gpr::rdi) = page;
  CHECK(outcome_of(late.write_exit(rig, xadd, page)) == Outcome::resume);
  CHECK_FALSE(late.mtf());
  CHECK(late.rip() == 0x400000);
  CHECK(rig.platform.wp(page));
  CHECK(outcome_of(cpus[0]->f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK(outcome_of(late.write_exit(rig, xadd, page)) == Outcome::resume);
  CHECK(late.mtf());  // a slot is free now
}

// ---- INVEPT bookkeeping --------------------------------------------------------------

TEST_CASE("monitor: each CPU invalidates once before entry after the generation moved") {
  MonitorRig rig;
  MonitorRig::Cpu a(rig, 0), b(rig, 1);
  unsigned flushes = rig.platform.flushes;
  rig.monitor->before_entry(a.f.vcpu);
  CHECK(rig.platform.flushes == flushes);  // generation 0: nothing to do
  REQUIRE(rig.monitor->add(0x200000, 8) == Status::ok);
  flushes = rig.platform.flushes;  // the adding CPU flushed itself
  vmm::monitor::before_vm_entry(a.f.vcpu);
  vmm::monitor::before_vm_entry(b.f.vcpu);
  CHECK(rig.platform.flushes == flushes + 2);
  vmm::monitor::before_vm_entry(a.f.vcpu);
  vmm::monitor::before_vm_entry(b.f.vcpu);
  CHECK(rig.platform.flushes == flushes + 2);
  CHECK(a.f.vcpu.monitor.ept_generation == rig.monitor->generation());
}

// ---- the ring --------------------------------------------------------------------------

TEST_CASE("monitor ring: the newest kRingSize events, overwritten ones lost and counted") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x1000) == Status::ok);
  MonitorRig::Cpu cpu(rig, 0);
  const unsigned total = vmm::monitor::kRingSize + 10;
  cpu.gpr(Gpr::rdi) = 0x200000;
  cpu.gpr(Gpr::rcx) = total;
  cpu.gpr(Gpr::rax) = 0x33;
  CHECK(outcome_of(cpu.write_exit(rig, {0xf3, 0xaa}, 0x200000)) == Outcome::resume);  // rep stosb
  const auto s = rig.monitor->stats();
  CHECK(s.recorded == total);
  CHECK(s.dropped == 10);
  vmm::monitor::Event e{};
  CHECK(rig.monitor->read_event(9, &e) == Status::event_lost);
  CHECK(rig.monitor->read_event(10, &e) == Status::ok);
  CHECK(e.gpa == 0x20000a);
  CHECK(rig.monitor->read_event(total - 1, &e) == Status::ok);
  CHECK(e.gpa == 0x200000 + total - 1);
  CHECK(rig.monitor->read_event(total, &e) == Status::no_event);
  CHECK(rig.monitor->read_event(~0ull, &e) == Status::no_event);
}

// ---- the hypercall ABI ------------------------------------------------------------------

TEST_CASE("hypercalls 16-19 through VMCALL: registers in and out") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 5);
  auto call = [&](uint64_t number, uint64_t rbx, uint64_t rcx) {
    for (unsigned i = 1; i < 32; ++i) cpu.f.vcpu.regs.gpr[i] = 0xd0d0d0d0d0d0d000ull + i;
    cpu.gpr(Gpr::rax) = number;
    cpu.gpr(Gpr::rbx) = rbx;
    cpu.gpr(Gpr::rcx) = rcx;
    cpu.f.vmcs.set(VmcsField::guest_rip, 0x1000);
    cpu.f.vmcs.set(VmcsField::vm_exit_instruction_length, 3);
    REQUIRE(outcome_of(cpu.f.exit(ExitReason::vmcall)) == Outcome::advance);
    return cpu.gpr(Gpr::rax);
  };
  auto untouched = [&](std::initializer_list<Gpr> regs) {
    for (Gpr g : regs) {
      CAPTURE(static_cast<unsigned>(g));
      CHECK(cpu.gpr(g) == 0xd0d0d0d0d0d0d000ull + static_cast<unsigned>(g));
    }
  };
  using HS = vmm::HypercallStatus;
  struct Row {
    const char* what;
    uint64_t number, rbx, rcx;
    HS status;
  };
  const Row rows[] = {
      {"add", 16, 0x200000, 0x100, HS::ok},
      {"add overlapping", 16, 0x2000f0, 0x20, HS::monitor_overlap},
      {"add empty", 16, 0x300000, 0, HS::monitor_bad_range},
      {"add MMIO", 16, 0xA0000, 8, HS::monitor_not_ram},
      {"add hypervisor memory", 16, 0x800000, 8, HS::monitor_not_ram},
      {"remove not exact", 17, 0x200000, 0x10, HS::monitor_no_such_range},
      {"read event not recorded yet", 18, 0, 0, HS::monitor_no_event},
      {"read event, part 6", 18, 0, 6, HS::bad_argument},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(call(r.number, r.rbx, r.rcx) == static_cast<uint64_t>(r.status));
    CHECK(cpu.gpr(Gpr::rbx) == r.rbx);  // no result register on any of these
    CHECK(cpu.gpr(Gpr::rcx) == r.rcx);
    untouched({Gpr::rdx, Gpr::rsi, Gpr::rdi, Gpr::r8, Gpr::r15});
  }
  CHECK(static_cast<uint64_t>(HS::monitor_unavailable) == 3);
  CHECK(static_cast<uint64_t>(HS::monitor_event_lost) == 11);

  // One emulated write, then read it back in both parts.
  cpu.gpr(Gpr::rdi) = 0x200008;
  cpu.gpr(Gpr::rax) = 0xfedcba9876543210ull;
  REQUIRE(outcome_of(cpu.write_exit(rig, {0x48, 0x89, 0x07}, 0x200008)) == Outcome::resume);
  CHECK(call(18, 0, 0) == 0);
  CHECK(cpu.gpr(Gpr::rbx) == 0x200008);
  CHECK(cpu.gpr(Gpr::rcx) == 0x400000);
  CHECK(cpu.gpr(Gpr::rdx) == pattern(0x200008));
  CHECK(cpu.gpr(Gpr::rsi) == 0xfedcba9876543210ull);
  CHECK(cpu.gpr(Gpr::rdi) == (8 | (3 << 8) | (0ull << 16) | (5ull << 32)));
  untouched({Gpr::rbp, Gpr::r8, Gpr::r9, Gpr::r15});
  CHECK(call(18, 0, 1) == 0);
  CHECK(cpu.gpr(Gpr::rbx) == 0x200008);  // the linear address
  CHECK(cpu.gpr(Gpr::rcx) == 0);         // the sequence number
  CHECK(cpu.gpr(Gpr::rdx) == 0x078948);  // 48 89 07
  CHECK(cpu.gpr(Gpr::rsi) == 0);
  CHECK(cpu.gpr(Gpr::rdi) == (8 | (3 << 8) | (5ull << 32)));

  // A fallback event carries kind 1.
  cpu.gpr(Gpr::rdi) = 0x200020;
  REQUIRE(outcome_of(cpu.write_exit(rig, {0x0f, 0xc1, 0x07}, 0x200020)) == Outcome::resume);  // xadd [rdi], eax
  rig.platform.mem.poke(0x200020, "\x01\x02\x03\x04", 4);
  REQUIRE(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK(call(18, 1, 0) == 0);
  CHECK(cpu.gpr(Gpr::rbx) == 0x200020);
  CHECK(cpu.gpr(Gpr::rsi) == 0x04030201);
  CHECK(cpu.gpr(Gpr::rdi) == (4 | (3 << 8) | (1ull << 16) | (5ull << 32)));

  // This guest's XCR0.APX is clear: parts 2-5 answer, with zeros, and info bit 24 clear.
  for (uint64_t part = 2; part <= 5; ++part) {
    CAPTURE(part);
    CHECK(call(18, 0, part) == 0);
    for (Gpr g : {Gpr::rbx, Gpr::rcx, Gpr::rdx, Gpr::rsi}) CHECK(cpu.gpr(g) == 0);
    CHECK(cpu.gpr(Gpr::rdi) == (8 | (3 << 8) | (5ull << 32)));
  }

  CHECK(call(19, 0, 0) == 0);
  CHECK(cpu.gpr(Gpr::rbx) == 2);  // recorded
  CHECK(cpu.gpr(Gpr::rcx) == 0);  // dropped
  CHECK(cpu.gpr(Gpr::rdx) == 1);  // fallbacks
  CHECK(cpu.gpr(Gpr::rsi) == 1);  // emulated write exits
  CHECK(cpu.gpr(Gpr::rdi) == (1 | (16u << 16) | (256ull << 32)));

  CHECK(call(17, 0x200000, 0x100) == 0);
  CHECK_FALSE(rig.platform.wp(0x200000));
  CHECK(call(19, 0, 0) == 0);
  CHECK((cpu.gpr(Gpr::rdi) & 0xffff) == 0);

  // 32-bit callers: inputs are the low halves.
  cpu.f.set_mode(Mode::compat32);
  cpu.f.vmcs.set(VmcsField::guest_cs_access_rights, 0xc09b);
  CHECK(call(16, 0xffffffff00200000ull, 0x10) == 0);
  vmm::monitor::Range r{};
  CHECK(rig.monitor->range_at(0, &r));
  CHECK(r.gpa == 0x200000);

  // No monitor on this machine.
  vmm::monitor::set_write_monitor(nullptr);
  cpu.f.set_mode(Mode::long64);
  for (uint64_t n : {16, 17, 18, 19}) {
    CAPTURE(n);
    CHECK(call(n, 0x200000, 8) == static_cast<uint64_t>(HS::monitor_unavailable));
    untouched({Gpr::rdx, Gpr::rsi, Gpr::rdi});
  }
  // At CPL 3: #UD, as for every hypercall.
  cpu.f.set_cpl(3);
  cpu.gpr(Gpr::rax) = 16;
  CHECK(outcome_of(cpu.f.exit(ExitReason::vmcall)) == Outcome::ud);
}

// ---- exits during event delivery (the event's frame pushed onto a trapped page) ----------

namespace {
bool rig_hypervisor_memory(uint64_t gpa) { return gpa >= 0x800000 && gpa < 0x802000; }

// A write exit that is an event delivery's push: IDT-vectoring information `idt` (an external
// interrupt unless said otherwise). The instruction at RIP is a MOV that would write
// [rdi] if it were emulated — it must not be.
vmm::ExitAction delivery_exit(MonitorRig& rig, MonitorRig::Cpu& cpu, uint64_t gpa, uint32_t idt = 0x80000041) {
  cpu.f.policy.hypervisor_memory = rig_hypervisor_memory;
  cpu.gpr(Gpr::rdi) = 0x203000;
  cpu.gpr(Gpr::rcx) = 0x1111;
  cpu.f.vmcs.set(VmcsField::idt_vectoring_info, idt);
  const vmm::ExitAction a = cpu.write_exit(rig, {0x48, 0x89, 0x0f}, gpa);  // mov [rdi], rcx
  cpu.f.vmcs.set(VmcsField::idt_vectoring_info, 0);  // the next exit's own
  return a;
}
}  // namespace

// Issue P11: with the guest's XCR0.APX set, every event keeps that guest's R16..R31 (info bit
// 24), read back four at a time through parts 2-5; emulated and fallback events alike.
TEST_CASE("hypercall 18 parts 2-5: R16-R31 of a guest with XCR0.APX set") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x100) == Status::ok);
  MonitorRig::Cpu cpu(rig, 3);
  cpu.f.vcpu.xstate.xcr0 |= vmm::policy::xcr0::APX;
  cpu.f.vcpu.xstate.save_egprs = 1;
  auto set_egprs = [&](uint64_t base) {
    for (unsigned n = 16; n < 32; ++n) cpu.f.vcpu.regs.gpr[n] = base + n;
  };
  auto read_egprs = [&](uint64_t seq, uint64_t base) {
    for (uint64_t part = 2; part <= 5; ++part) {
      CAPTURE(seq, part);
      cpu.gpr(Gpr::rax) = 18;
      cpu.gpr(Gpr::rbx) = seq;
      cpu.gpr(Gpr::rcx) = part;
      cpu.f.vmcs.set(VmcsField::guest_rip, 0x1000);
      cpu.f.vmcs.set(VmcsField::vm_exit_instruction_length, 3);
      REQUIRE(outcome_of(cpu.f.exit(ExitReason::vmcall)) == Outcome::advance);
      CHECK(cpu.gpr(Gpr::rax) == 0);
      const unsigned first = 16 + 4 * static_cast<unsigned>(part - 2);
      CHECK(cpu.gpr(Gpr::rbx) == base + first);
      CHECK(cpu.gpr(Gpr::rcx) == base + first + 1);
      CHECK(cpu.gpr(Gpr::rdx) == base + first + 2);
      CHECK(cpu.gpr(Gpr::rsi) == base + first + 3);
      CHECK(((cpu.gpr(Gpr::rdi) >> 24) & 0xff) == 1);
      CHECK((cpu.gpr(Gpr::rdi) >> 32) == 3);
    }
  };
  // Emulated: mov [rdi], r16 (REX2), R16's value is the one written.
  set_egprs(0xe9e9000000000000ull);
  cpu.gpr(Gpr::rdi) = 0x200008;
  REQUIRE(outcome_of(cpu.write_exit(rig, {0xd5, 0x48, 0x89, 0x07}, 0x200008)) == Outcome::resume);
  REQUIRE(rig.recorded() == 1);
  CHECK(rig.event(0).new_value == 0xe9e9000000000010ull);
  CHECK(rig.event(0).kind == EventKind::emulated);
  read_egprs(0, 0xe9e9000000000000ull);
  // Fallback: an EVEX store, single-stepped; the registers as the step's exit found them.
  cpu.gpr(Gpr::rdi) = 0x200040;
  REQUIRE(outcome_of(cpu.write_exit(rig, {0x62, 0xf4, 0xfc, 0x08, 0xf7, 0x17}, 0x200040)) == Outcome::resume);
  rig.platform.mem.poke64(0x200040, ~pattern(0x200040));  // what the guest's NOT did
  set_egprs(0x5757000000000000ull);
  REQUIRE(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  REQUIRE(rig.recorded() == 2);
  CHECK(rig.event(1).kind == EventKind::fallback);
  read_egprs(1, 0x5757000000000000ull);
}

TEST_CASE("event delivery onto a watched page: re-injected, the delivery single-stepped, nothing emulated") {
  MonitorRig rig;
  REQUIRE(rig.monitor->add(0x200000, 0x1000) == Status::ok);
  MonitorRig::Cpu cpu(rig, 1);
  CHECK(outcome_of(delivery_exit(rig, cpu, 0x200ff8)) == Outcome::resume);
  CHECK(cpu.f.injected() == 0x80000041);  // the interrupt comes back at the next entry
  CHECK(cpu.rip() == 0x400000);           // RIP's instruction was not executed ...
  CHECK(rig.peek(0x203000) == pattern(0x203000));  // ... nor its write
  CHECK(cpu.mtf());
  CHECK_FALSE(rig.platform.wp(0x200000));  // the delivery may push there now
  CHECK(rig.monitor->stats().emulated == 0);
  // The delivery pushed its frame (what the guest CPU does after the entry), then the MTF exit.
  rig.platform.mem.poke64(0x200ff8, 0x400000);  // the pushed RIP
  cpu.f.vmcs.set(VmcsField::guest_rip, 0x500000);  // the handler's first instruction
  CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK(rig.platform.wp(0x200000));
  CHECK_FALSE(cpu.mtf());
  // Bytes 0-2 and 4-7 of the qword changed (byte 3 is 0 before and after): two runs.
  REQUIRE(rig.recorded() == 2);
  const auto e = rig.event(0);
  CHECK(e.kind == EventKind::fallback);
  CHECK(e.gpa == 0x200ff8);
  CHECK(e.size == 3);
  CHECK(e.new_value == 0x400000);
  CHECK(e.rip == 0x400000);   // the interrupted RIP
  CHECK(e.insn_length == 0);  // no instruction: a delivery
}

TEST_CASE("event delivery onto a watched page through a stale translation: flushed, re-injected") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 1);
  // 0x200000 is not watched: covers() answers through ept_allows_write.
  CHECK(outcome_of(delivery_exit(rig, cpu, 0x200ff8, 0x80000202)) == Outcome::resume);
  CHECK(cpu.f.injected() == 0x80000202);  // an NMI this time
  CHECK_FALSE(cpu.mtf());
  CHECK(rig.monitor->stats().stale == 1);
  CHECK(rig.peek(0x203000) == pattern(0x203000));
}

TEST_CASE("event delivery into hypervisor memory: pushes go to a sink for the delivery, then zeros again") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 3);
  uint8_t* sink0 = rig.snapshots.data() + (3 * vmm::monitor::kFallbackPages + 0) * kPage;
  uint8_t* sink1 = rig.snapshots.data() + (3 * vmm::monitor::kFallbackPages + 1) * kPage;
  std::fill(sink0, sink0 + kPage, 0xcc);  // an earlier step's bytes: zeroed before use
  const uint64_t generation = rig.monitor->generation();

  CHECK(outcome_of(delivery_exit(rig, cpu, 0x800ff8)) == Outcome::resume);
  CHECK(cpu.f.injected() == 0x80000041);
  CHECK(cpu.rip() == 0x400000);
  CHECK(rig.peek(0x203000) == pattern(0x203000));  // RIP's MOV not emulated
  CHECK(cpu.mtf());
  REQUIRE(rig.platform.sunk.count(0x800000));
  CHECK(rig.platform.sunk[0x800000] == reinterpret_cast<uintptr_t>(sink0));
  CHECK(std::all_of(sink0, sink0 + kPage, [](uint8_t b) { return b == 0; }));
  CHECK(cpu.f.vcpu.hypervisor_writes_discarded == 0);

  SECTION("another CPU delivering onto the same page waits: re-injected, no sink of its own") {
    MonitorRig::Cpu other(rig, 4);
    CHECK(outcome_of(delivery_exit(rig, other, 0x800ff0, 0x80000042)) == Outcome::resume);
    CHECK(other.f.injected() == 0x80000042);
    CHECK_FALSE(other.mtf());
    CHECK(rig.platform.sunk[0x800000] == reinterpret_cast<uintptr_t>(sink0));
  }
  SECTION("the frame crosses into the next hidden page: both sunk, both restored") {
    CHECK(outcome_of(delivery_exit(rig, cpu, 0x801000)) == Outcome::resume);
    CHECK(cpu.f.injected() == 0x80000041);
    CHECK(rig.platform.sunk[0x801000] == reinterpret_cast<uintptr_t>(sink1));
    sink1[0] = 0x5a;
    cpu.f.vmcs.set(VmcsField::guest_rip, 0x500000);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.platform.sunk.empty());
    CHECK(sink1[0] == 0);
    CHECK(cpu.f.vcpu.hypervisor_writes_discarded == 2);
  }
  SECTION("the MTF exit after the delivery: the zero page again, the sink zeroed, the write counted") {
    sink0[kPage - 8] = 0x41;  // the delivery's push
    cpu.f.vmcs.set(VmcsField::guest_rip, 0x500000);
    CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
    CHECK(rig.platform.sunk.empty());
    CHECK(std::all_of(sink0, sink0 + kPage, [](uint8_t b) { return b == 0; }));
    CHECK_FALSE(cpu.mtf());
    CHECK(cpu.f.vcpu.hypervisor_writes_discarded == 1);
    CHECK(rig.monitor->generation() == generation + 1);  // others drop translations to the sink
    CHECK(rig.recorded() == 0);
    CHECK(rig.monitor->stats().fallbacks == 0);
    // The page is free again: the next delivery there sinks it anew.
    CHECK(outcome_of(delivery_exit(rig, cpu, 0x800ff8)) == Outcome::resume);
    CHECK(rig.platform.sunk.count(0x800000));
  }
}

TEST_CASE("a write into hypervisor memory outside a delivery is still emulated and discarded") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 1);
  cpu.f.policy.hypervisor_memory = rig_hypervisor_memory;
  cpu.gpr(Gpr::rdi) = 0x800010;
  rig.pt.map(0x800000, 0x800000, emu_test::pte::P | emu_test::pte::RW);
  CHECK(outcome_of(cpu.write_exit(rig, {0x48, 0x89, 0x0f}, 0x800010)) == Outcome::resume);
  CHECK(cpu.rip() == 0x400003);  // emulated (the emulator moved RIP past it)
  CHECK(rig.platform.sunk.empty());
  CHECK(cpu.f.injected() == 0);
}

// A frame pushed onto the local-APIC page (P8): it used to stop the CPU. Now the event is
// injected again, the APIC page points at this CPU's sink for exactly the delivery, and the
// step's exit puts the APIC mapping back: no register written, the CPU goes on.
TEST_CASE("event delivery onto the local-APIC page: pushes go to a sink, the APIC mapping comes back") {
  MonitorRig rig;
  MonitorRig::Cpu cpu(rig, 2);
  uint8_t* sink0 = rig.snapshots.data() + (2 * vmm::monitor::kFallbackPages + 0) * kPage;
  CHECK(outcome_of(rig.monitor->sink_apic_delivery(cpu.f.ctx, 0xfee00ff8)) == Outcome::resume);
  REQUIRE(rig.platform.device_sunk.count(FakePlatform::kApicPage));
  CHECK(rig.platform.device_sunk[FakePlatform::kApicPage] == reinterpret_cast<uintptr_t>(sink0));
  CHECK(cpu.mtf());
  sink0[kPage - 8] = 0x41;  // the delivery's push
  cpu.f.vmcs.set(VmcsField::guest_rip, 0x500000);
  CHECK(outcome_of(cpu.f.exit(ExitReason::monitor_trap_flag)) == Outcome::resume);
  CHECK(rig.platform.device_sunk.empty());
  CHECK(rig.platform.restored[FakePlatform::kApicPage] == FakePlatform::kApicLeaf);  // not the zero page
  CHECK(rig.platform.sunk.empty());
  CHECK(std::all_of(sink0, sink0 + kPage, [](uint8_t b) { return b == 0; }));
  CHECK_FALSE(cpu.mtf());
  CHECK(cpu.f.vcpu.hypervisor_writes_discarded == 0);  // not hypervisor memory
  CHECK(rig.recorded() == 0);
}
