#include <string>
#include <vector>
#include <catch.hpp>

#include "vmm/apic/ap_start.hpp"
#include "vmm/apic/icr.hpp"

using namespace vmm::apic;

TEST_CASE("ICR decoding, xAPIC and x2APIC formats (SDM 11.6.1, 11.12.9)") {
  struct Row {
    const char* what;
    bool x2;
    uint64_t low_or_value;
    uint32_t high;
    uint8_t vector;
    DeliveryMode mode;
    bool logical, level, trigger;
    Shorthand sh;
    uint32_t dest;
  };
  const Row rows[] = {
      {"INIT assert, physical, to APIC 1", false, 0x0000c500, 0x01000000, 0x00, DeliveryMode::init, false, true, true, Shorthand::none, 1},
      {"INIT de-assert (level trigger, level 0)", false, 0x00008500, 0x01000000, 0x00, DeliveryMode::init, false, false, true, Shorthand::none, 1},
      {"STARTUP vector 0x9a to APIC 3", false, 0x0000069a, 0x03000000, 0x9a, DeliveryMode::startup, false, false, false, Shorthand::none, 3},
      {"INIT to all excluding self", false, 0x000c4500, 0, 0x00, DeliveryMode::init, false, true, false, Shorthand::all_excluding_self, 0},
      {"fixed vector 0xfd, logical, to self", false, 0x000408fd, 0, 0xfd, DeliveryMode::fixed, true, false, false, Shorthand::self, 0},
      {"NMI all including self", false, 0x00080400, 0, 0x00, DeliveryMode::nmi, false, false, false, Shorthand::all_including_self, 0},
      {"reserved delivery mode 3", false, 0x00000300, 0, 0x00, DeliveryMode::reserved, false, false, false, Shorthand::none, 0},
      {"x2APIC STARTUP to APIC 0x12345", true, 0x000123450000069aull, 0, 0x9a, DeliveryMode::startup, false, false, false, Shorthand::none, 0x12345},
      {"x2APIC INIT logical cluster 1 bit 2", true, 0x000100040000cd00ull, 0, 0x00, DeliveryMode::init, true, true, true, Shorthand::none, 0x00010004},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    Icr i = r.x2 ? decode_x2apic_icr(r.low_or_value) : decode_xapic_icr(static_cast<uint32_t>(r.low_or_value), r.high);
    CHECK(i.vector == r.vector);
    CHECK(i.delivery == r.mode);
    CHECK(i.logical == r.logical);
    CHECK(i.level_assert == r.level);
    CHECK(i.level_trigger == r.trigger);
    CHECK(i.shorthand == r.sh);
    CHECK(i.destination == r.dest);
  }
  CHECK(decode_xapic_icr(0x00008500, 0).is_init_deassert());
  CHECK_FALSE(decode_xapic_icr(0x0000c500, 0).is_init_deassert());
  CHECK(std::string(delivery_mode_name(DeliveryMode::startup)) == "STARTUP");
}

namespace {
ApicTopology four_cpus() {
  ApicTopology t;
  t.count = 4;
  for (unsigned i = 0; i < 4; ++i) {
    t.apic_id[i] = i * 2;              // APIC ids 0, 2, 4, 6 (not the indices)
    t.logical_id[i] = uint8_t(1u << i);  // flat model: one bit each
  }
  return t;
}
std::vector<unsigned> members(const TargetSet& s) {
  std::vector<unsigned> v;
  for (unsigned i = 0; i < kMaxCpus; ++i)
    if (s.has(i)) v.push_back(i);
  return v;
}
}  // namespace

TEST_CASE("target resolution: physical, logical flat/cluster, x2APIC, shorthands") {
  ApicTopology t = four_cpus();
  struct Row {
    const char* what;
    Icr icr;
    unsigned sender;
    std::vector<unsigned> expect;
  };
  auto phys = [](uint32_t d) { Icr i{}; i.destination = d; return i; };
  auto logi = [](uint32_t d) { Icr i{}; i.logical = true; i.destination = d; return i; };
  auto sh = [](Shorthand s) { Icr i{}; i.shorthand = s; return i; };
  const Row rows[] = {
      {"physical APIC id 4 is CPU 2", phys(4), 0, {2}},
      {"physical APIC id 3 matches nobody", phys(3), 0, {}},
      {"physical broadcast 0xff", phys(0xff), 1, {0, 1, 2, 3}},
      {"logical flat mask 0b1010", logi(0x0a), 0, {1, 3}},
      {"self", sh(Shorthand::self), 2, {2}},
      {"all including self", sh(Shorthand::all_including_self), 1, {0, 1, 2, 3}},
      {"all excluding self", sh(Shorthand::all_excluding_self), 1, {0, 2, 3}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(members(resolve_targets(r.icr, t, r.sender)) == r.expect);
  }

  ApicTopology c = four_cpus();
  c.logical_id[0] = 0x11;  // cluster 1, member bit 0
  c.logical_id[1] = 0x12;  // cluster 1, member bit 1
  c.logical_id[2] = 0x21;  // cluster 2, member bit 0
  c.logical_id[3] = 0x22;
  for (unsigned i = 0; i < 4; ++i) c.cluster_model[i] = true;
  CHECK(members(resolve_targets(logi(0x13), c, 0)) == std::vector<unsigned>{0, 1});
  CHECK(members(resolve_targets(logi(0xf1), c, 0)) == std::vector<unsigned>{0, 2});  // all clusters
  CHECK(members(resolve_targets(logi(0x24), c, 0)).empty());

  ApicTopology x = four_cpus();
  x.apic_id[3] = 0x13;  // cluster 1, bit 3
  auto x2 = [](Icr i) { i.x2apic = true; return i; };
  CHECK(members(resolve_targets(x2(logi(0x00000005)), x, 0)) == std::vector<unsigned>{0, 1});  // ids 0 and 2
  CHECK(members(resolve_targets(x2(logi(0x00010008)), x, 0)) == std::vector<unsigned>{3});
  CHECK(members(resolve_targets(x2(phys(0xffffffff)), x, 0)).size() == 4);
  CHECK(members(resolve_targets(x2(phys(0xff)), x, 0)).empty());  // 0xff is not broadcast in x2APIC
  CHECK(resolve_targets(phys(0xff), t, 0).count() == 4);
}

TEST_CASE("per-vCPU INIT/STARTUP state machine (SDM 10.4.2)") {
  struct Step {
    char event;  // 'I' INIT, 'S' STARTUP
    ApAction expect;
    ApState after;
  };
  struct Row {
    const char* what;
    std::vector<Step> steps;
  };
  const Row rows[] = {
      {"INIT then STARTUP starts the CPU",
       {{'I', ApAction::enter_wait, ApState::wait_for_sipi}, {'S', ApAction::start_at_vector, ApState::running}}},
      {"the second STARTUP of INIT-SIPI-SIPI is ignored",
       {{'I', ApAction::enter_wait, ApState::wait_for_sipi},
        {'S', ApAction::start_at_vector, ApState::running},
        {'S', ApAction::none, ApState::running}}},
      {"STARTUP without INIT is ignored", {{'S', ApAction::none, ApState::running}}},
      {"INIT while already waiting changes nothing",
       {{'I', ApAction::enter_wait, ApState::wait_for_sipi},
        {'I', ApAction::none, ApState::wait_for_sipi},
        {'S', ApAction::start_at_vector, ApState::running}}},
      {"a CPU can be restarted: INIT-SIPI twice",
       {{'I', ApAction::enter_wait, ApState::wait_for_sipi},
        {'S', ApAction::start_at_vector, ApState::running},
        {'I', ApAction::enter_wait, ApState::wait_for_sipi},
        {'S', ApAction::start_at_vector, ApState::running}}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    ApMachine m;
    for (const Step& s : r.steps) {
      ApAction a = s.event == 'I' ? m.on_init() : m.on_startup();
      CHECK(a == s.expect);
      CHECK(m.state == s.after);
    }
  }
}

#include "vmm/apic/ap_mailbox.hpp"

TEST_CASE("AP mailbox: events in order, bounded, kicks counted") {
  ApMailbox box;
  ApEvent e{};
  CHECK(box.empty());
  CHECK_FALSE(box.take(&e));
  REQUIRE(box.post({ApEvent::Kind::init, 0}));
  REQUIRE(box.post({ApEvent::Kind::startup, 0x9a}));
  CHECK_FALSE(box.empty());
  REQUIRE(box.take(&e));
  CHECK(e.kind == ApEvent::Kind::init);
  REQUIRE(box.take(&e));
  CHECK(e.kind == ApEvent::Kind::startup);
  CHECK(e.vector == 0x9a);
  CHECK(box.empty());
  for (unsigned i = 0; i < ApMailbox::kCapacity; ++i) CHECK(box.post({ApEvent::Kind::init, 0}));
  CHECK_FALSE(box.post({ApEvent::Kind::init, 0}));  // full: refused, not overwritten
  CHECK_FALSE(box.consume_kick());                  // no kick sent: an NMI is the guest's
  box.note_kick();
  box.note_kick();
  CHECK(box.consume_kick());
  CHECK(box.consume_kick());
  CHECK_FALSE(box.consume_kick());
}

TEST_CASE("AP mailbox: a post sets the owner's pending-work bit, after the event is in") {
  vmm::PendingWork pending;
  ApMailbox box;
  box.attach(&pending);
  CHECK_FALSE(pending.has(vmm::pending::mailbox));
  REQUIRE(box.post({ApEvent::Kind::init, 0}));
  CHECK(pending.has(vmm::pending::mailbox));
  CHECK(pending.any() == vmm::pending::mailbox);  // no other bit
  // The owner clears the bit before draining; a post after that sets it again.
  pending.clear(vmm::pending::mailbox);
  ApEvent e{};
  REQUIRE(box.take(&e));
  CHECK_FALSE(pending.has(vmm::pending::mailbox));
  REQUIRE(box.post({ApEvent::Kind::startup, 0x10}));
  CHECK(pending.has(vmm::pending::mailbox));
  // A full mailbox refuses the event and leaves the word as it was.
  pending.clear(vmm::pending::mailbox);
  for (unsigned i = 1; i < ApMailbox::kCapacity; ++i) REQUIRE(box.post({ApEvent::Kind::init, 0}));
  pending.clear(vmm::pending::mailbox);
  CHECK_FALSE(box.post({ApEvent::Kind::init, 0}));
  CHECK_FALSE(pending.has(vmm::pending::mailbox));
}

#include "vmm/apic/ap_intercept.hpp"

namespace {
struct FakeApic final : LocalApic {
  std::vector<uint32_t> nmis, passed;
  std::vector<uint64_t> raw;
  void send_nmi(uint32_t id) override { nmis.push_back(id); }
  void send_raw(uint64_t v) override { raw.push_back(v); }
  void send_to(const Icr&, uint32_t id) override { passed.push_back(id); }
};
struct FakeTargets final : ApTargets {
  bool on[4] = {true, true, true, false};  // CPU 3 is not virtualized
  ApMailbox boxes[4];
  bool virtualized(unsigned c) override { return on[c]; }
  ApMailbox* mailbox(unsigned c) override { return &boxes[c]; }
};
}  // namespace

TEST_CASE("intercepted ICR writes: INIT/STARTUP emulated for virtualized CPUs only") {
  ApicTopology topo = four_cpus();
  SECTION("fixed IPIs go to the real APIC unchanged") {
    FakeApic apic;
    FakeTargets t;
    auto out = intercept_icr_write(decode_xapic_icr(0x000000fd, 0x02000000), 0x02000000000000fdull, 0, topo, t, apic);
    CHECK(out.sent_raw);
    CHECK(apic.raw == std::vector<uint64_t>{0x02000000000000fdull});
    CHECK(apic.nmis.empty());
  }
  SECTION("INIT to all-but-self: posted + NMI to virtualized CPUs, real INIT to the other") {
    FakeApic apic;
    FakeTargets t;
    auto out = intercept_icr_write(decode_xapic_icr(0x000c4500, 0), 0, 0, topo, t, apic);
    CHECK_FALSE(out.sent_raw);
    CHECK(out.posted == 2);
    CHECK(out.passed_on == 1);
    CHECK(apic.nmis == std::vector<uint32_t>{2, 4});  // APIC ids of CPUs 1 and 2
    CHECK(apic.passed == std::vector<uint32_t>{6});   // CPU 3 gets the real INIT
    ApEvent e{};
    REQUIRE(t.boxes[1].take(&e));
    CHECK(e.kind == ApEvent::Kind::init);
    CHECK(t.boxes[0].empty());
    CHECK(t.boxes[1].consume_kick());
  }
  SECTION("STARTUP carries its vector; INIT de-assert posts nothing") {
    FakeApic apic;
    FakeTargets t;
    intercept_icr_write(decode_xapic_icr(0x0000069a, 0x04000000), 0, 0, topo, t, apic);
    ApEvent e{};
    REQUIRE(t.boxes[2].take(&e));
    CHECK(e.kind == ApEvent::Kind::startup);
    CHECK(e.vector == 0x9a);
    auto out = intercept_icr_write(decode_xapic_icr(0x00008500, 0x04000000), 0, 0, topo, t, apic);
    CHECK(out.posted == 0);
    CHECK(t.boxes[2].empty());
  }
  SECTION("INIT to self: posted without an NMI, the sender drains it") {
    FakeApic apic;
    FakeTargets t;
    auto out = intercept_icr_write(decode_xapic_icr(0x00044500, 0), 0, 1, topo, t, apic);
    CHECK(out.self_posted);
    CHECK(apic.nmis.empty());
    CHECK_FALSE(t.boxes[1].empty());
  }
}

TEST_CASE("encode_icr_low_physical keeps vector, mode, level and trigger, drops shorthand and logical") {
  CHECK(encode_icr_low_physical(decode_xapic_icr(0x000cc500, 0)) == 0x0000c500);  // INIT assert, all-but-self
  CHECK(encode_icr_low_physical(decode_xapic_icr(0x0000069a, 0)) == 0x0000069a);  // STARTUP 0x9a
  CHECK(encode_icr_low_physical(decode_xapic_icr(0x00008d00, 0)) == 0x00008500);  // logical bit dropped
}
