// The xAPIC register table (vmm/apic/xapic_registers.def, SDM Vol 3A Table 11-1) and
// XapicPort, which carries a guest's xAPIC register write out on the real APIC (issue P6).
#include <catch.hpp>

#include <cstring>

#include "fake_xapic.hpp"
#include "vmm/apic/xapic_port.hpp"
#include "vmm/apic/xapic_registers.hpp"

using namespace vmm_test;
using vmm::apic::ApEvent;
using vmm::apic::ApicTopology;
using vmm::apic::InterceptOutcome;
using vmm::apic::XapicPort;
using Access = FakeXapic::Access;
using xapic::Mirror;

namespace {

const xapic::Register* row(const char* name) {
  for (const xapic::Register& r : xapic::kRegisters)
    if (std::strcmp(r.name, name) == 0) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("xAPIC register table: every row found at each of its four bytes, slot by slot") {
  for (const xapic::Register& r : xapic::kRegisters) {
    CAPTURE(r.name, r.offset);
    REQUIRE(r.count >= 1);
    CHECK((r.offset & 0xf) == 0);
    for (unsigned slot = 0; slot < r.count; ++slot) {
      for (unsigned byte = 0; byte < 16; ++byte) {
        const unsigned off = r.offset + 16 * slot + byte;
        CAPTURE(slot, byte, off);
        if (byte < 4) CHECK(xapic::register_at(off) == &r);
        else CHECK(xapic::register_at(off) == nullptr);  // bytes 4..15 of a slot are reserved
      }
    }
  }
  STATIC_REQUIRE(xapic::register_at(xapic::icr_low) != nullptr);  // usable at compile time
}

TEST_CASE("xAPIC register table: ISR, TMR and IRR have 8 slots each, the rows around them are distinct") {
  const xapic::Register* isr = row("isr");
  const xapic::Register* tmr = row("tmr");
  const xapic::Register* irr = row("irr");
  REQUIRE(isr);
  REQUIRE(tmr);
  REQUIRE(irr);
  for (unsigned i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(xapic::register_at(0x100 + 16 * i) == isr);
    CHECK(xapic::register_at(0x180 + 16 * i) == tmr);
    CHECK(xapic::register_at(0x200 + 16 * i + 3) == irr);
  }
  CHECK(xapic::register_at(0x0f0) == row("svr"));
  CHECK(xapic::register_at(0x280) == row("esr"));  // right after IRR's last slot (0x270)
  CHECK(isr->mirror == Mirror::hardware);
  CHECK(tmr->mirror == Mirror::hardware);
  CHECK(irr->mirror == Mirror::hardware);
}

TEST_CASE("xAPIC register table: reserved offsets have no row") {
  for (unsigned off : {0x000u, 0x003u, 0x010u, 0x024u, 0x02cu, 0x040u, 0x070u, 0x290u, 0x2e0u, 0x3a0u, 0x3d0u,
                       0x3f0u, 0x3f3u, 0xff0u, 0x1000u, 0x1020u, 0x1300u, 0xfffffff0u}) {
    CAPTURE(off);
    CHECK(xapic::register_at(off) == nullptr);
  }
}

TEST_CASE("xAPIC register table: the mirror kinds follow the SDM's list of virtualized reads") {
  // SDM Vol 3C 30.4.2: with APIC-register virtualization, reads of exactly these registers
  // come from the virtual-APIC page; every other register's read is an APIC-access exit.
  const unsigned virtualized[] = {0x020, 0x030, 0x080, 0x0b0, 0x0d0, 0x0e0, 0x0f0, 0x100, 0x180, 0x200,
                                  0x280, 0x300, 0x310, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3e0};
  for (const xapic::Register& r : xapic::kRegisters) {
    CAPTURE(r.name);
    bool listed = false;
    for (unsigned v : virtualized) listed |= v == r.offset;
    CHECK((r.mirror != Mirror::exits) == listed);
  }
  CHECK(row("tpr")->mirror == Mirror::tpr);
  CHECK(row("eoi")->mirror == Mirror::write_only);
  CHECK(row("icr_low")->mirror == Mirror::icr_low);
  CHECK(row("ppr")->mirror == Mirror::exits);
  CHECK(row("timer_current_count")->mirror == Mirror::exits);
  CHECK(row("ldr")->mirror == Mirror::software);
  // The named offsets generated from the same table.
  CHECK(xapic::ldr == 0x0d0);
  CHECK(xapic::icr_low == 0x300);
  CHECK(xapic::icr_high == 0x310);
  CHECK(xapic::timer_divide == 0x3e0);
}

namespace {

// CPU 0 (APIC id 0) writes; CPU 1 has APIC id 5, CPU 2 APIC id 6; all flat logical model.
struct PortFixture {
  FakeXapic real;
  FakeTargets targets;
  ApicTopology topo;
  PortFixture() {
    topo.count = 3;
    topo.apic_id[0] = 0;
    topo.apic_id[1] = 5;
    topo.apic_id[2] = 6;
    topo.logical_id[0] = 0x01;
    topo.logical_id[1] = 0x02;
    topo.logical_id[2] = 0x04;
  }
  XapicPort port(unsigned sender = 0) { return XapicPort(real, sender, topo, targets); }
};

}  // namespace

TEST_CASE("XapicPort: LDR and DFR writes reach the real APIC and update the topology") {
  PortFixture f;
  XapicPort p = f.port(1);
  const InterceptOutcome r = p.write_register(xapic::ldr, 0x80345678);
  CHECK_FALSE(r.sent_raw);  // not an ICR write: no IPI
  CHECK(r.posted == 0);
  CHECK(f.topo.logical_id[1] == 0x80);
  CHECK(f.topo.logical_id[0] == 0x01);  // only the sender's
  CHECK(f.real.writes == std::vector<Access>{{xapic::ldr, 0x80345678}});
  CHECK(f.real.get(xapic::ldr) == 0x80000000);

  p.write_register(xapic::dfr, 0x0fffffff);  // model 0000b: cluster
  CHECK(f.topo.cluster_model[1]);
  CHECK_FALSE(f.topo.cluster_model[0]);
  p.write_register(xapic::dfr, 0xffffffff);  // model 1111b: flat
  CHECK_FALSE(f.topo.cluster_model[1]);
  CHECK(f.real.writes_to(xapic::dfr) == std::vector<uint32_t>{0x0fffffff, 0xffffffff});

  // A sender outside the topology: the register is still written, the topology is not.
  XapicPort outside = f.port(7);
  outside.write_register(xapic::ldr, 0x40000000);
  CHECK(f.real.get(xapic::ldr) == 0x40000000);
  for (unsigned i = 0; i < 3; ++i) CHECK(f.topo.logical_id[i] != 0x40);
}

TEST_CASE("XapicPort: other registers are written unchanged, nothing else is touched") {
  PortFixture f;
  XapicPort p = f.port();
  auto r = p.write_register(xapic::lvt_lint0, 0x00010700);
  CHECK_FALSE(r.sent_raw);
  CHECK(r.posted == 0);
  CHECK(f.real.writes == std::vector<Access>{{xapic::lvt_lint0, 0x00010700}});
  CHECK(f.real.reads.empty());
  p.write_register(xapic::eoi, 0);
  p.write_register(xapic::timer_initial_count, 0x12345678);
  CHECK(f.real.writes.size() == 3);
  CHECK(f.real.writes.back() == Access{xapic::timer_initial_count, 0x12345678});
  CHECK(f.topo.logical_id[0] == 0x01);
}

TEST_CASE("XapicPort: a fixed IPI is sent raw, ICR high then ICR low") {
  PortFixture f;
  f.real.set(xapic::icr_high, 0x05000000);  // the guest's destination: APIC id 5
  auto r = f.port().write_register(xapic::icr_low, 0x000040fd);
  CHECK(r.sent_raw);
  CHECK(r.posted == 0);
  CHECK(f.real.writes == std::vector<Access>{{xapic::icr_high, 0x05000000}, {xapic::icr_low, 0x000040fd}});
  for (auto& box : f.targets.box) CHECK(box.empty());
}

TEST_CASE("XapicPort: INIT to a virtualized CPU is posted and the CPU woken; the guest's ICR high survives") {
  PortFixture f;
  // Logical flat destination 0x02 = CPU 1 (APIC id 5): the guest's ICR high differs from
  // the wake-up NMI's (physical APIC id 5), so its restoration is visible.
  f.real.set(xapic::icr_high, 0x02000000);
  auto r = f.port().write_register(xapic::icr_low, 0x0000cd00);  // INIT, logical, assert, level
  CHECK_FALSE(r.sent_raw);
  CHECK(r.posted == 1);
  CHECK(r.passed_on == 0);
  CHECK_FALSE(r.self_posted);
  ApEvent e{};
  REQUIRE(f.targets.box[1].take(&e));
  CHECK(e.kind == ApEvent::Kind::init);
  CHECK(f.targets.box[1].consume_kick());
  CHECK(f.targets.box[0].empty());
  CHECK(f.targets.box[2].empty());
  // NMI (delivery mode 4) to APIC id 5, then the guest's ICR high back; the INIT itself
  // never reaches the real ICR.
  CHECK(f.real.writes == std::vector<Access>{{xapic::icr_high, 0x05000000},
                                             {xapic::icr_low, 0x00000400},
                                             {xapic::icr_high, 0x02000000}});
  CHECK(f.real.get(xapic::icr_high) == 0x02000000);
}

TEST_CASE("XapicPort: an LDR write changes where a logical INIT goes") {
  PortFixture f;
  XapicPort p2 = f.port(2);
  p2.write_register(xapic::ldr, 0x10000000);  // CPU 2 takes logical bit 4
  f.real.writes.clear();
  f.real.set(xapic::icr_high, 0x10000000);
  auto r = f.port().write_register(xapic::icr_low, 0x0000cd00);
  CHECK(r.posted == 1);
  CHECK_FALSE(f.targets.box[2].empty());
  CHECK(f.targets.box[1].empty());
  CHECK(f.real.writes_to(xapic::icr_high) == std::vector<uint32_t>{0x06000000, 0x10000000});
}

TEST_CASE("XapicPort: STARTUP carries its vector; INIT to a CPU apexvisor does not run is sent for real") {
  PortFixture f;
  f.real.set(xapic::icr_high, 0x05000000);
  SECTION("STARTUP vector 0x9a to APIC id 5") {
    auto r = f.port().write_register(xapic::icr_low, 0x0000069a);
    CHECK(r.posted == 1);
    ApEvent e{};
    REQUIRE(f.targets.box[1].take(&e));
    CHECK(e.kind == ApEvent::Kind::startup);
    CHECK(e.vector == 0x9a);
    CHECK(f.real.writes_to(xapic::icr_low) == std::vector<uint32_t>{0x400});
  }
  SECTION("INIT to a CPU that is not virtualized: re-aimed at its APIC id, ICR high restored") {
    f.targets.virt[1] = false;
    auto r = f.port().write_register(xapic::icr_low, 0x0000c500);
    CHECK(r.posted == 0);
    CHECK(r.passed_on == 1);
    CHECK(f.targets.box[1].empty());
    CHECK(f.real.writes == std::vector<Access>{{xapic::icr_high, 0x05000000},
                                               {xapic::icr_low, 0x0000c500},
                                               {xapic::icr_high, 0x05000000}});
  }
  SECTION("INIT to itself: posted, no wake-up NMI") {
    f.real.set(xapic::icr_high, 0x00000000);
    auto r = f.port().write_register(xapic::icr_low, 0x0004c500);  // shorthand self
    CHECK(r.self_posted);
    CHECK_FALSE(f.targets.box[0].empty());
    CHECK(f.real.writes.empty());
  }
  SECTION("INIT level de-assert: nothing posted, nothing sent") {
    auto r = f.port().write_register(xapic::icr_low, 0x00008500);
    CHECK(r.posted == 0);
    CHECK(f.targets.box[1].empty());
    CHECK(f.real.writes.empty());
  }
}

TEST_CASE("XapicPort as LocalApic: its own IPIs put the guest's ICR high back") {
  PortFixture f;
  f.real.set(xapic::icr_high, 0xab000000);
  XapicPort p = f.port();
  p.send_nmi(6);
  CHECK(f.real.writes == std::vector<Access>{{xapic::icr_high, 0x06000000},
                                             {xapic::icr_low, 0x00000400},
                                             {xapic::icr_high, 0xab000000}});
  f.real.writes.clear();
  p.send_raw(0x0300000000004500ull);
  CHECK(f.real.writes == std::vector<Access>{{xapic::icr_high, 0x03000000}, {xapic::icr_low, 0x00004500}});
}
