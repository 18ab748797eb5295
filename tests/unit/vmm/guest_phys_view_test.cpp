// The routed guest-physical view every emulation path uses (vmm/guest_memory/guest_phys_view.hpp,
// issue P8 "the emulator honours the same protections as the EPT"): an emulated instruction
// that runs from one kind of page into another gets each page's answer — RAM is memory,
// hypervisor memory reads zeros and drops writes (counted), the trapped APIC page goes to the
// APIC intercept (INIT/SIPI included), watched pages are written and recorded as the monitor's
// events. Real exits where one fits (the monitor's EPT violation, the discard of a write into
// hypervisor memory), emulate_at_rip() over GuestPolicy::guest_ram otherwise; a 64-bit guest
// with 4-level paging, identity-mapped, over FakePhys.
#include <memory>
#include <vector>

#include "arch/little_endian.hpp"
#include "emulate/emulate_test_support.hpp"
#include "fake_xapic.hpp"
#include "handler_fixture.hpp"
#include "vmm/apic/apic_page_intercept.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/monitor/write_monitor.hpp"

using namespace vmm_test;
using arch::Gpr;
using emu_test::Bytes;
using vmm::guest_memory::GuestPhysView;
using vmm::guest_memory::PageKind;
using vmm::guest_memory::PhysStatus;
using vmm::monitor::Status;
namespace pte = vmm::guest_memory::pte;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kCode = 0x400000;
// One layout for every test, identity-mapped (linear = guest-physical):
constexpr uint64_t kRam = 0x1ff000;     // RAM
constexpr uint64_t kWatch = 0x200000;   // watched page (when a test adds a range there)
constexpr uint64_t kApic = 0x201000;    // the trapped xAPIC page (identity-mapped MMIO: "RAM" to FakePhys)
constexpr uint64_t kRam2 = 0x202000;    // RAM
constexpr uint64_t kHidden = 0x203000;  // hypervisor memory
constexpr uint64_t kWatch2 = 0x204000;  // watched page (when a test adds a range there)
constexpr uint64_t kHiddenBytes = 0x5a5a5a5a5a5a5a5aull;  // what the hypervisor keeps there

// SDM Vol 3C Table 28-7: data write (1), readable (3), executable (5), linear valid (7),
// access to the translated address (8).
constexpr uint64_t kWriteQual = (1u << 1) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8);

bool hidden(uint64_t gpa) { return (gpa & ~(kPage - 1)) == kHidden; }

// The monitor's machine: everything is RAM, EPT changes always work, nothing is writable in
// the EPT that the monitor did not open (so only watched pages are its exits).
class TestPlatform final : public vmm::monitor::Platform {
 public:
  explicit TestPlatform(emu_test::FakePhys& mem) : mem_(mem) {}
  bool is_ram(uint64_t, uint64_t) override { return true; }
  vmm::ept::EptStatus set_write_protect(uint64_t, uint64_t, bool) override { return vmm::ept::EptStatus::ok; }
  vmm::ept::EptStatus redirect_hidden(uint64_t, uint64_t) override { return vmm::ept::EptStatus::not_mapped; }
  bool ept_allows_write(uint64_t) override { return false; }
  void flush_this_cpu() override {}
  vmm::guest_memory::GuestPhysMemory& phys() override { return mem_; }

 private:
  emu_test::FakePhys& mem_;
};

// A device that logs every access the view hands it (for the routing itself).
class LoggingDevice final : public vmm::guest_memory::PageDevice {
 public:
  struct Write {
    uint64_t gpa;
    std::vector<uint8_t> bytes;
  };
  PhysStatus read(vmm::ExitContext&, uint64_t gpa, void* dst, size_t n) override {
    reads.push_back(gpa);
    for (size_t i = 0; i < n; ++i) static_cast<uint8_t*>(dst)[i] = 0xd0;
    return PhysStatus::ok;
  }
  PhysStatus write(vmm::ExitContext& ctx, uint64_t gpa, const void* src, size_t n) override {
    const auto* b = static_cast<const uint8_t*>(src);
    writes.push_back({gpa, std::vector<uint8_t>(b, b + n)});
    cpu = ctx.vcpu.index;
    return PhysStatus::ok;
  }
  PhysStatus cmpxchg(vmm::ExitContext&, uint64_t gpa, unsigned, uint64_t, uint64_t, uint64_t* observed) override {
    reads.push_back(gpa);
    *observed = 0;
    return PhysStatus::ok;
  }
  std::vector<uint64_t> reads;
  std::vector<Write> writes;
  unsigned cpu = ~0u;
};

struct Rig {
  HandlerFixture f;
  emu_test::FakePhys phys;
  emu_test::PageTables pt{phys, emu_test::PageTables::Mode::level4};
  GuestPhysView view{&phys, hidden, exit_now};  // GuestPolicy::guest_ram
  TestPlatform platform{phys};
  std::unique_ptr<vmm::monitor::WriteMonitor> monitor = std::make_unique<vmm::monitor::WriteMonitor>();
  // The APIC intercept over a fake xAPIC: CPU 0 (APIC id 0) runs the guest, CPU 1 (APIC id 5)
  // is another of apexvisor's guests.
  FakeXapic real;
  FakeTargets targets;
  vmm::apic::ApicTopology topo;
  vmm::apic::ApicPageIntercept apic;

  Rig() {
    vmm::reset_ept_write_intercepts();
    pt.map(kCode, kCode, pte::P | pte::RW);
    for (uint64_t p = kRam; p <= kWatch2; p += kPage) {
      pt.map(p, p, pte::P | pte::RW);
      for (uint64_t a = p; a < p + kPage; a += 8) phys.poke64(a, 0x1111111111111111ull * (1 + (p - kRam) / kPage));
    }
    for (uint64_t a = kHidden; a < kHidden + kPage; a += 8) phys.poke64(a, kHiddenBytes);
    f.policy.guest_ram = &view;
    f.policy.hypervisor_memory = hidden;
    f.vmcs.set(VmcsField::guest_cr3, pt.cr3());
    f.vmcs.set(VmcsField::guest_rsp, 0x7ff0);
    f.set_flat_segments();
    f.vcpu.index = 0;
    topo.count = 2;
    topo.apic_id[0] = 0;
    topo.apic_id[1] = 5;
    monitor->init(&platform, nullptr, 0);
  }
  ~Rig() { vmm::reset_ept_write_intercepts(); }

  // The monitor owns its watched pages' write exits and the view's watched pages.
  void use_monitor() {
    REQUIRE(vmm::register_ept_write_intercept(monitor.get()));
    view.route_watched(monitor.get());
  }
  // The APIC intercept owns the APIC page's write exits and the view's APIC page.
  void use_apic_intercept() {
    apic.init(kApic, &real, &topo, &targets);
    REQUIRE(vmm::register_ept_write_intercept(&apic));
    view.route_apic_page(kApic, &apic);
  }

  void load(const Bytes& code) {
    phys.poke(kCode, code.data(), code.size());
    f.vmcs.set(VmcsField::guest_rip, kCode);
  }
  // The guest at kCode runs `code`, whose write the EPT refused at `gpa`: a real exit.
  vmm::ExitAction write_exit(const Bytes& code, uint64_t gpa) {
    load(code);
    f.vmcs.set(VmcsField::exit_qualification, kWriteQual);
    f.vmcs.set(VmcsField::guest_physical_address, gpa);
    f.vmcs.set(VmcsField::guest_linear_address, gpa);
    return f.exit(vmx::ExitReason::ept_violation);
  }
  // The same instruction emulated by whichever path: emulate_at_rip over the policy's view.
  vmm::ExitAction emulate(const Bytes& code) {
    load(code);
    bool unsupported = false;
    vmm::ExitAction a = vmm::emulate_at_rip(f.ctx, *f.policy.guest_ram, nullptr, &unsupported);
    REQUIRE_FALSE(unsupported);
    return a;
  }
  uint64_t peek(uint64_t gpa, unsigned n = 8) const { return phys.peek(gpa, n); }
  uint64_t rip() const { return f.vmcs.get(VmcsField::guest_rip); }
  uint64_t recorded() { return monitor->stats().recorded; }
  vmm::monitor::Event event(uint64_t seq) {
    vmm::monitor::Event e{};
    REQUIRE(monitor->read_event(seq, &e) == Status::ok);
    return e;
  }
};

// What the guest sees after an emulated instruction it must survive: resumed, not stopped,
// nothing injected, RIP past the instruction.
void check_guest_goes_on(Rig& rig, uint64_t rip_after, const vmm::ExitAction& a) {
  CHECK(outcome_of(a) == Outcome::resume);
  CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
  CHECK(rig.f.injected() == 0);
  CHECK(rig.rip() == rip_after);
}

// A fake owner of watched pages for the classification rows: claims the pages it is told.
class ClaimingWatcher final : public vmm::guest_memory::WatchedPages {
 public:
  bool watched(uint64_t gpa) override { return claim_all || (gpa & ~(kPage - 1)) == page; }
  void record(vmm::ExitContext*, const vmm::guest_memory::WriteRecord&) override { ++records; }
  bool claim_all = false;
  uint64_t page = ~0ull;
  unsigned records = 0;
};

}  // namespace

TEST_CASE("guest-physical view: one classification, hypervisor memory first, then the APIC page, then watched") {
  emu_test::FakePhys phys;
  GuestPhysView view{&phys, hidden, exit_now};
  LoggingDevice device;
  ClaimingWatcher watcher;
  view.route_apic_page(kApic, &device);
  view.route_watched(&watcher);
  struct Row {
    const char* what;
    uint64_t gpa;
    bool watch_all;  // the watcher claims every page (overlaps the others on purpose)
    PageKind kind;
  };
  const Row rows[] = {
      {"ordinary RAM", kRam + 0x10, false, PageKind::ram},
      {"hypervisor memory", kHidden + 0xff8, false, PageKind::hypervisor},
      {"hypervisor memory also claimed by the watcher: hypervisor wins", kHidden, true, PageKind::hypervisor},
      {"the APIC page, any offset", kApic + 0x300, false, PageKind::apic},
      {"the APIC page also claimed by the watcher: the device wins", kApic + 0xfff, true, PageKind::apic},
      {"a watched page", kWatch + 0x123, true, PageKind::watched},
      {"the byte before the APIC page", kApic - 1, false, PageKind::ram},
      {"the byte after the APIC page", kApic + kPage, false, PageKind::ram},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    watcher.claim_all = r.watch_all;
    CHECK(view.classify(r.gpa) == r.kind);
  }
  // Without owners the special pages are memory again (hypervisor memory never is).
  GuestPhysView bare{&phys, hidden, exit_now};
  CHECK(bare.classify(kApic) == PageKind::ram);
  CHECK(bare.classify(kWatch) == PageKind::ram);
  CHECK(bare.classify(kHidden) == PageKind::hypervisor);
}

TEST_CASE("guest-physical view: a hypervisor page is never routed to the APIC device") {
  emu_test::FakePhys phys;
  GuestPhysView view{&phys, hidden, exit_now};
  LoggingDevice device;
  view.route_apic_page(kHidden, &device);  // wiring gone wrong: refused, the page stays hidden
  CHECK(view.apic_device() == nullptr);
  CHECK(view.classify(kHidden) == PageKind::hypervisor);
  CHECK(view.ram_pointer(kHidden) == nullptr);
  view.route_apic_page(kApic, &device);
  CHECK(view.apic_device() == &device);
  CHECK(view.ram_pointer(kApic) == nullptr);  // a device page is never handed out as memory
  phys.map_ram(kRam, kPage);
  CHECK(view.ram_pointer(kRam + 8) != nullptr);
}

TEST_CASE("guest-physical view: an access that crosses a page is split, each page to its own route") {
  Rig rig;
  LoggingDevice device;
  rig.view.route_apic_page(kApic, &device);
  const uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(rig.view.write(kApic - 4, bytes, 8) == PhysStatus::ok);
  CHECK(rig.peek(kApic - 4, 4) == 0x04030201);
  REQUIRE(device.writes.size() == 1);
  CHECK(device.writes[0].gpa == kApic);
  CHECK(device.writes[0].bytes == std::vector<uint8_t>{5, 6, 7, 8});
  CHECK(rig.peek(kApic, 4) == 0x33333333);  // the memory behind the device is not written
  uint8_t back[8] = {};
  REQUIRE(rig.view.read(kHidden - 4, back, 8) == PhysStatus::ok);
  CHECK(arch::load_le(back, 8) == 0x0000000044444444ull);  // RAM, then the zeros of hypervisor memory
  // A probe answers for the device page without touching it.
  const size_t reads = device.reads.size();
  CHECK(rig.view.probe(kApic + 0x300) == PhysStatus::ok);
  CHECK(device.reads.size() == reads);
}

TEST_CASE("guest-physical view: a REP STOSB from RAM into the APIC page reaches the device for the second page") {
  Rig rig;
  LoggingDevice device;
  rig.view.route_apic_page(kApic, &device);
  rig.f.vcpu.index = 3;  // the device learns which CPU wrote
  rig.f.gpr(Gpr::rdi) = kApic - 8;
  rig.f.gpr(Gpr::rcx) = 12;
  rig.f.gpr(Gpr::rax) = 0xcc;
  const vmm::ExitAction a = rig.emulate({0xf3, 0xaa});  // rep stosb
  check_guest_goes_on(rig, kCode + 2, a);
  CHECK(rig.f.gpr(Gpr::rcx) == 0);
  CHECK(rig.peek(kApic - 8) == 0xccccccccccccccccull);  // the RAM page: memory
  REQUIRE(device.writes.size() == 4);                  // the APIC page: the device, byte by byte
  for (unsigned i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(device.writes[i].gpa == kApic + i);
    CHECK(device.writes[i].bytes == std::vector<uint8_t>{0xcc});
  }
  CHECK(device.cpu == 3);
  CHECK(rig.peek(kApic, 4) == 0x33333333);  // never the memory (or MMIO) behind it
}

TEST_CASE("guest-physical view: a REP STOSD from a watched page into the APIC page sends its INIT through the intercept") {
  // The review finding: the monitor emulated against RAM, so the REP ran on into the real ICR.
  Rig rig;
  rig.use_monitor();
  rig.use_apic_intercept();
  REQUIRE(rig.monitor->add(kWatch + 0xff0, 0x10) == Status::ok);
  // INIT, level assert, all excluding self (SDM Vol 3A Figure 11-12): every dword the REP
  // stores, up to and including ICR low at 0x300.
  constexpr uint32_t kInitOthers = 0x000c4500;
  rig.f.gpr(Gpr::rdi) = kWatch + 0xff8;
  rig.f.gpr(Gpr::rcx) = 2 + 0x300 / 4 + 1;
  rig.f.gpr(Gpr::rax) = kInitOthers;
  const vmm::ExitAction a = rig.write_exit({0xf3, 0xab}, kWatch + 0xff8);  // rep stosd
  check_guest_goes_on(rig, kCode + 2, a);
  CHECK(rig.f.gpr(Gpr::rcx) == 0);
  // The watched bytes: two events, with the instruction that wrote them.
  REQUIRE(rig.recorded() == 2);
  for (unsigned k = 0; k < 2; ++k) {
    const auto e = rig.event(k);
    CAPTURE(k);
    CHECK(e.gpa == kWatch + 0xff8 + 4 * k);
    CHECK(e.size == 4);
    CHECK(e.new_value == kInitOthers);
    CHECK(e.rip == kCode);
    CHECK(e.insn_length == 2);
  }
  // The APIC page: the INIT was intercepted and posted to CPU 1's mailbox; the real ICR only
  // ever saw the wake-up NMI (delivery mode 4), never the INIT.
  vmm::apic::ApEvent ev{};
  REQUIRE(rig.targets.box[1].take(&ev));
  CHECK(ev.kind == vmm::apic::ApEvent::Kind::init);
  for (uint32_t v : rig.real.writes_to(xapic::icr_low)) CHECK((v & 0x700) == 0x400);
  CHECK(rig.real.get(xapic::ldr) == (kInitOthers & 0xff000000u));  // the other registers: written through
  CHECK(rig.peek(kApic + 0x300, 4) == 0x33333333);                  // nothing went to memory
}

TEST_CASE("guest-physical view: XCHG with an APIC register is carried out by the intercept, not refused") {
  Rig rig;
  rig.use_apic_intercept();
  rig.f.gpr(Gpr::rdi) = kApic + 0x300;
  rig.f.gpr(Gpr::rax) = 0x000c4500;  // INIT to all excluding self
  rig.real.set(xapic::icr_low, 0x000000fd);
  const vmm::ExitAction a = rig.write_exit({0x87, 0x07}, kApic + 0x300);  // xchg [rdi], eax
  check_guest_goes_on(rig, kCode + 2, a);
  CHECK(rig.f.gpr(Gpr::rax) == 0xfd);  // what the register held
  vmm::apic::ApEvent ev{};
  REQUIRE(rig.targets.box[1].take(&ev));
  CHECK(ev.kind == vmm::apic::ApEvent::Kind::init);
}

// SSE stores are beyond the emulator; APIC registers are defined only for aligned 32-bit
// accesses: the instruction is skipped, the APIC untouched, and the CPU goes on (P8: no guest
// action stops a CPU).
TEST_CASE("guest-physical view: an APIC-page access the emulator cannot do is skipped, not a stop") {
  Rig rig;
  rig.use_apic_intercept();
  rig.f.gpr(Gpr::rdi) = kApic + 0x300;
  rig.real.set(xapic::icr_low, 0x000000fd);
  const vmm::ExitAction a = rig.write_exit({0xf3, 0x0f, 0x7f, 0x07}, kApic + 0x300);  // movdqu [rdi], xmm0
  check_guest_goes_on(rig, kCode + 4, a);
  CHECK(rig.real.get(xapic::icr_low) == 0xfd);
  vmm::apic::ApEvent ev{};
  CHECK_FALSE(rig.targets.box[1].take(&ev));
}

// EVEX is the exception to the skip (vmm/handlers/emulate_at_rip.hpp, unemulated_evex_answer):
// KVM's emulator implements no EVEX and answers an access it must emulate with #UD, so does
// apexvisor, for classic AVX-512 and for APX's EVEX forms alike: RIP stays, the APIC is untouched.
TEST_CASE("guest-physical view: an EVEX access to the APIC page gets #UD, as under KVM") {
  struct Row {
    const char* what;
    Bytes code;
    bool apx;
  };
  const Row rows[] = {
      {"vmovdqu32 [rdi], zmm0", {0x62, 0xf1, 0x7e, 0x48, 0x7f, 0x07}, false},
      {"{evex} not qword [rdi] (APX map 4)", {0x62, 0xf4, 0xfc, 0x08, 0xf7, 0x17}, true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    Rig rig;
    rig.use_apic_intercept();
    rig.f.vcpu.xstate.save_egprs = r.apx;  // the guest's XCR0.APX (CR4.OSXSAVE is set)
    rig.f.gpr(Gpr::rdi) = kApic + 0x300;
    rig.real.set(xapic::icr_low, 0x000000fd);
    const vmm::ExitAction a = rig.write_exit(r.code, kApic + 0x300);
    CHECK(outcome_of(a) == Outcome::ud);
    CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
    CHECK(rig.rip() == kCode);
    CHECK(rig.real.get(xapic::icr_low) == 0xfd);
    vmm::apic::ApEvent ev{};
    CHECK_FALSE(rig.targets.box[1].take(&ev));
  }
}

TEST_CASE("guest-physical view: a REP STOSB from RAM into a watched range records the watched bytes") {
  Rig rig;
  rig.use_monitor();
  REQUIRE(rig.monitor->add(kWatch, 4) == Status::ok);
  rig.f.vcpu.index = 2;
  rig.f.gpr(Gpr::rdi) = kWatch - 4;
  rig.f.gpr(Gpr::rcx) = 12;
  rig.f.gpr(Gpr::rax) = 0xcc;
  const vmm::ExitAction a = rig.emulate({0xf3, 0xaa});  // rep stosb, for any exit
  check_guest_goes_on(rig, kCode + 2, a);
  CHECK(rig.peek(kWatch - 4, 12) == 0xccccccccccccccccull);  // all of it written
  CHECK(rig.peek(kWatch + 4, 4) == 0xcccccccc);
  REQUIRE(rig.recorded() == 4);  // only the 4 watched bytes
  for (unsigned k = 0; k < 4; ++k) {
    const auto e = rig.event(k);
    CAPTURE(k);
    CHECK(e.gpa == kWatch + k);
    CHECK(e.linear == kWatch + k);
    CHECK(e.size == 1);
    CHECK(e.old_value == 0x22);
    CHECK(e.new_value == 0xcc);
    CHECK(e.cpu == 2);
    CHECK(e.rip == kCode);
    CHECK(e.insn_length == 2);
    CHECK(e.insn[0] == 0xf3);
    CHECK(e.insn[1] == 0xaa);
    CHECK(e.kind == vmm::monitor::EventKind::emulated);
  }
}

TEST_CASE("guest-physical view: a write into hypervisor memory that runs on into a watched page is recorded there") {
  // The discard path's own exit (a write into hypervisor memory), the same view.
  Rig rig;
  rig.use_monitor();
  REQUIRE(rig.monitor->add(kWatch2, 0x10) == Status::ok);
  rig.f.gpr(Gpr::rdi) = kWatch2 - 8;  // the last quadword of hypervisor memory
  rig.f.gpr(Gpr::rcx) = 2;
  rig.f.gpr(Gpr::rax) = 0xfeedfacecafebeefull;
  const vmm::ExitAction a = rig.write_exit({0xf3, 0x48, 0xab}, kWatch2 - 8);  // rep stosq
  check_guest_goes_on(rig, kCode + 3, a);
  CHECK(rig.peek(kWatch2 - 8) == kHiddenBytes);  // discarded
  CHECK(rig.f.vcpu.hypervisor_writes_discarded == 1);
  CHECK(rig.peek(kWatch2) == 0xfeedfacecafebeefull);
  REQUIRE(rig.recorded() == 1);
  const auto e = rig.event(0);
  CHECK(e.gpa == kWatch2);
  CHECK(e.size == 8);
  CHECK(e.new_value == 0xfeedfacecafebeefull);
  CHECK(e.old_value == 0x6666666666666666ull);
  CHECK(e.rip == kCode);
  CHECK(e.insn_length == 3);
}

TEST_CASE("guest-physical view: a REP STOSB from a watched page into hypervisor memory discards and counts, the guest goes on") {
  Rig rig;
  rig.use_monitor();
  REQUIRE(rig.monitor->add(kRam2 + 0xff0, 0x10) == Status::ok);  // kRam2's last bytes watched
  rig.f.gpr(Gpr::rdi) = kRam2 + 0xffc;
  rig.f.gpr(Gpr::rcx) = 10;
  rig.f.gpr(Gpr::rax) = 0xab;
  const vmm::ExitAction a = rig.write_exit({0xf3, 0xaa}, kRam2 + 0xffc);  // rep stosb
  check_guest_goes_on(rig, kCode + 2, a);
  CHECK(rig.f.gpr(Gpr::rcx) == 0);
  CHECK(rig.f.gpr(Gpr::rdi) == kHidden + 6);
  CHECK(rig.peek(kRam2 + 0xffc, 4) == 0xabababab);  // the watched bytes: written
  CHECK(rig.recorded() == 4);                        // and recorded
  CHECK(rig.peek(kHidden) == kHiddenBytes);           // hypervisor memory: untouched
  CHECK(rig.f.vcpu.hypervisor_writes_discarded == 6);  // one per discarded store
}

TEST_CASE("guest-physical view: reads of hypervisor memory give zeros, whatever the hypervisor keeps there") {
  struct Row {
    const char* what;
    Bytes code;
    uint64_t rsi, rdi, rcx;
    uint64_t rax_after;  // ~0: not checked
    uint64_t dst, dst_after;
  };
  const Row rows[] = {
      {"mov rax, [rsi]", {0x48, 0x8b, 0x06}, kHidden + 0x40, 0, 0, 0, 0, 0},
      {"mov rax, [rsi] straddling RAM and hypervisor memory", {0x48, 0x8b, 0x06}, kHidden - 4, 0, 0,
       0x0000000044444444ull, 0, 0},
      {"rep movsb from hypervisor memory into RAM", {0xf3, 0xa4}, kHidden + 0x100, kRam2 + 0x10, 8, ~0ull,
       kRam2 + 0x10, 0},
      {"rep movsq from hypervisor memory into RAM", {0xf3, 0x48, 0xa5}, kHidden, kRam + 8, 1, ~0ull, kRam + 8, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    Rig rig;
    rig.f.gpr(Gpr::rsi) = r.rsi;
    rig.f.gpr(Gpr::rdi) = r.rdi;
    rig.f.gpr(Gpr::rcx) = r.rcx;
    rig.f.gpr(Gpr::rax) = 0xdeadbeef;
    const vmm::ExitAction a = rig.emulate(r.code);
    check_guest_goes_on(rig, kCode + r.code.size(), a);
    if (r.rax_after != ~0ull) CHECK(rig.f.gpr(Gpr::rax) == r.rax_after);
    if (r.dst) CHECK(rig.peek(r.dst) == r.dst_after);
    CHECK(rig.peek(kHidden) == kHiddenBytes);
    CHECK(rig.f.vcpu.hypervisor_writes_discarded == 0);  // reading is not a write
  }
}

TEST_CASE("guest-physical view: a split lock into hypervisor memory or a watched page keeps each page's answer") {
  SECTION("RAM | hypervisor memory: the RAM half is exchanged, the other half reads zeros and is discarded") {
    Rig rig;
    rig.f.gpr(Gpr::rdi) = kHidden - 4;
    rig.f.gpr(Gpr::rax) = 0x8877665544332211ull;
    const vmm::ExitAction a = rig.emulate({0x48, 0x87, 0x07});  // xchg [rdi], rax (locked)
    check_guest_goes_on(rig, kCode + 3, a);
    CHECK(rig.f.gpr(Gpr::rax) == 0x0000000044444444ull);  // RAM bytes, then zeros
    CHECK(rig.peek(kHidden - 4, 4) == 0x44332211);
    CHECK(rig.peek(kHidden) == kHiddenBytes);
    CHECK(rig.f.vcpu.hypervisor_writes_discarded == 1);
  }
  SECTION("RAM | watched: exchanged whole, the watched half recorded") {
    Rig rig;
    rig.use_monitor();
    REQUIRE(rig.monitor->add(kWatch, 8) == Status::ok);
    rig.f.gpr(Gpr::rdi) = kWatch - 4;
    rig.f.gpr(Gpr::rax) = 0x8877665544332211ull;
    const vmm::ExitAction a = rig.emulate({0x48, 0x87, 0x07});  // xchg [rdi], rax (locked)
    check_guest_goes_on(rig, kCode + 3, a);
    CHECK(rig.f.gpr(Gpr::rax) == 0x2222222211111111ull);
    CHECK(rig.peek(kWatch - 4) == 0x8877665544332211ull);
    REQUIRE(rig.recorded() == 1);
    const auto e = rig.event(0);
    CHECK(e.gpa == kWatch);
    CHECK(e.linear == kWatch);
    CHECK(e.size == 4);
    CHECK(e.old_value == 0x22222222);
    CHECK(e.new_value == 0x88776655);
  }
}

TEST_CASE("guest-physical view: the monitor's own exit records each write once") {
  Rig rig;
  rig.use_monitor();
  REQUIRE(rig.monitor->add(kWatch, kPage) == Status::ok);
  rig.f.gpr(Gpr::rdi) = kWatch + 0x10;
  rig.f.gpr(Gpr::rax) = 0x0102030405060708ull;
  const vmm::ExitAction a = rig.write_exit({0x48, 0x89, 0x07}, kWatch + 0x10);  // mov [rdi], rax
  check_guest_goes_on(rig, kCode + 3, a);
  CHECK(rig.recorded() == 1);
  CHECK(rig.monitor->stats().emulated == 1);
  // Without a view that routes watched pages to it, the monitor single-steps instead of
  // emulating writes it would not see.
  GuestPhysView other{&rig.phys, hidden, exit_now};
  rig.f.policy.guest_ram = &other;
  const vmm::ExitAction b = rig.write_exit({0x48, 0x89, 0x07}, kWatch + 0x10);
  CHECK(outcome_of(b) == Outcome::resume);
  CHECK(rig.rip() == kCode);  // not emulated: the guest runs it under the step
  CHECK(rig.f.vcpu.monitor.stepping);
  CHECK(rig.monitor->stats().fallbacks == 1);
}

// Under apic_virt a guest's direct write of an APIC register lands on its virtual-APIC page
// (the ICR high only there: no exit). A register write that reaches the APIC page through the
// view (a string operation emulated for another exit) takes the same path
// (VirtualApic::write_register): the ICR high written by a MOV goes with an ICR low written
// by the emulator, and the reverse; the page mirrors the emulated writes.
TEST_CASE("routed view under APIC virtualization: ICR halves written by either path make one IPI") {
  Rig rig;
  rig.use_apic_intercept();
  vmm::apic::VirtualApicPage page{};
  rig.f.vcpu.vapic = &page;
  vmm::apic::VirtualApic vapic;
  vapic.init(kApic, &rig.real, &rig.topo, &rig.targets, &rig.apic);
  struct Installed {
    explicit Installed(vmm::apic::VirtualApic* v) { vmm::apic::set_virtual_apic(v); }
    ~Installed() { vmm::apic::set_virtual_apic(nullptr); }
  } installed(&vapic);
  const uint8_t fixed_ipi[4] = {0x40, 0x00, 0x00, 0x00};  // ICR low: fixed, vector 0x40, no shorthand
  SECTION("ICR high by a MOV (virtual-APIC page, APIC-write exit), ICR low through the view") {
    page.set(xapic::icr_high, 0x05000000);
    rig.f.vmcs.set(VmcsField::exit_qualification, xapic::icr_high);
    CHECK(rig.f.exit(vmx::ExitReason::apic_write).kind == vmm::ExitAction::Kind::resume);
    rig.real.writes.clear();
    REQUIRE(rig.view.write(kApic + xapic::icr_low, fixed_ipi, 4) == PhysStatus::ok);
    REQUIRE(rig.real.writes.size() >= 2);
    CHECK(rig.real.writes[0] == FakeXapic::Access{xapic::icr_high, 0x05000000});
    CHECK(rig.real.writes_to(xapic::icr_low) == std::vector<uint32_t>{0x40});
    CHECK(page.get(xapic::icr_low) == 0x40);  // mirrored: the guest reads its command back
  }
  SECTION("ICR high through the view, ICR low by a MOV") {
    page.set(xapic::icr_high, 0x07000000);  // stale: what the guest had before
    const uint8_t dest[4] = {0x00, 0x00, 0x00, 0x05};
    REQUIRE(rig.view.write(kApic + xapic::icr_high, dest, 4) == PhysStatus::ok);
    CHECK(page.get(xapic::icr_high) == 0x05000000);
    rig.real.writes.clear();
    page.set(xapic::icr_low, 0x40);
    rig.f.vmcs.set(VmcsField::exit_qualification, xapic::icr_low);
    CHECK(rig.f.exit(vmx::ExitReason::apic_write).kind == vmm::ExitAction::Kind::resume);
    REQUIRE(rig.real.writes.size() >= 2);
    CHECK(rig.real.writes[0] == FakeXapic::Access{xapic::icr_high, 0x05000000});
    CHECK(rig.real.writes_to(xapic::icr_low) == std::vector<uint32_t>{0x40});
  }
}
