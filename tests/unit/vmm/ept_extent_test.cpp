// The EPT over the whole guest-physical address space (issue P9 item 4; vmm/ept/ept_extent.hpp,
// EptIdentityMap::build_identity with a reach and map_on_demand): the plan for MAXPHYADDR
// 36..52 with and without 1 GiB pages and a 5-level walk, the top entry at 2^MAXPHYADDR - 1 GiB,
// 1 GiB alignment edges, a variable MTRR that splits a 1 GiB page above RAM, blocks mapped on
// the first access and re-typed with the rest, and what happens when the table pool runs dry.
#include <catch.hpp>

#include "ept_test_support.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/ept_extent.hpp"

using namespace ept_test;

namespace {

constexpr uint64_t K4 = 0x1000, M2 = 0x200000, G1 = 0x40000000, G4 = 4 * G1, G512 = 512 * G1;

EptFeatures feats(bool g1, bool five = false) {
  EptFeatures f;
  f.pages_1g = g1;
  f.pages_2m = true;
  f.walk_5level = five;
  return f;
}

void check_leaf(const EptIdentityMap& ept, uint64_t gpa, uint64_t page_size, uint8_t type) {
  CAPTURE(gpa);
  const EptTranslation t = ept.translate(gpa);
  REQUIRE(t.mapped);
  CHECK(t.present);
  CHECK((t.r && t.w && t.x));
  CHECK(t.hpa == gpa);
  CHECK(t.page_size == page_size);
  CHECK(static_cast<uint8_t>(t.type) == type);
}

}  // namespace

TEST_CASE("EPT extent: reach, walk length and eager end by MAXPHYADDR (ept_extent.hpp table)") {
  struct Row {
    uint8_t bits;
    bool g1, five;
    unsigned levels;
    uint64_t reach;
    bool capped;
    uint64_t high_tables;
    bool on_demand;
  };
  const Row rows[] = {
      {0, true, false, 4, 1ull << 36, false, 0, false},   // no CPUID leaf: 36 bits
      {36, true, false, 4, 1ull << 36, false, 0, false},
      {39, true, false, 4, 1ull << 39, false, 0, false},  // the low PDPT covers all of it
      {39, false, false, 4, 1ull << 39, false, 508, false},
      {40, true, false, 4, 1ull << 40, false, 1, false},  // Bochs: 1 TiB
      {46, true, false, 4, 1ull << 46, false, 127, false},
      {46, false, false, 4, 1ull << 46, false, 65532 + 127, true},
      {48, true, false, 4, 1ull << 48, false, 511, false},
      {52, true, true, 5, 1ull << 52, false, 8191 + 15, true},
      {52, true, false, 4, 1ull << 48, true, 511, false},  // no 5-level walk: up to 2^48, said so
      {57, true, true, 5, 1ull << 57, false, (1ull << 18) - 1 + 511, true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.bits, r.g1, r.five);
    const EptExtent x = plan_ept_extent(r.bits, G4, feats(r.g1, r.five));
    CHECK(x.levels == r.levels);
    CHECK(x.reach == r.reach);
    CHECK(x.capped == r.capped);
    CHECK(x.high_table_pages == r.high_tables);
    CHECK(x.on_demand() == r.on_demand);
    CHECK(x.eager_end == (r.on_demand ? G4 : r.reach));
  }
  // RAM above the reach (cannot happen, but the plan never maps less than asked of it).
  const EptExtent small = plan_ept_extent(36, 1ull << 37, feats(true));
  CHECK(small.eager_end == 1ull << 36);
  CHECK(small.high_table_pages == 0);
}

TEST_CASE("EPT to 2^MAXPHYADDR at boot: the top entry, the bound on table pages") {
  for (uint8_t bits : {39, 40, 46}) {
    CAPTURE(bits);
    MtrrLayout l(UC, true, true, 8, true, bits);
    l.var(0, 0, G4 / 2, WB);  // RAM in [0, 2 GiB), default UC above, as OVMF sets it
    const MtrrSnapshot m = l.snapshot();
    const EptExtent x = plan_ept_extent(bits, G4, feats(true));
    REQUIRE_FALSE(x.on_demand());
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, x.eager_end, feats(true), x.reach) == EptStatus::ok);
    CHECK(ept.levels() == 4);
    CHECK(ept.mapped_end() == 1ull << bits);
    const uint64_t top = 1ull << bits;
    check_leaf(ept, top - G1, G1, UC);       // the top entry: a 1 GiB page at 2^MAXPHYADDR - 1 GiB
    check_leaf(ept, top - K4, G1, UC);       // far above RAM: the selftest reads here
    check_leaf(ept, G4, G1, UC);             // the first 1 GiB above the memory map
    check_leaf(ept, G1, G1, WB);
    CHECK_FALSE(ept.translate(top).mapped);  // 2^MAXPHYADDR itself: reserved bits, never mapped
    // The tables the low 4 GiB take with these MTRRs (PML4, PDPT, one PD and one PT for the
    // fixed ranges' first 2 MiB) plus exactly the plan's figure above it.
    CHECK(ept.stats().table_pages == 4 + x.high_table_pages);
    CHECK(ept.stats().leaves_1g == (top >> 30) - 1);
  }
}

TEST_CASE("EPT above RAM: a variable MTRR that splits a 1 GiB page, 1 GiB alignment edges") {
  MtrrLayout l(UC, true, false, 8, true, 40);
  const uint64_t bar = 0x8000000000ull + 3 * G1 + 256 * 0x100000;  // 512 GiB + 3.25 GiB
  l.var(0, 0, G4, WB).var(1, bar, 256 * 0x100000, WC);             // a 256 MiB WC BAR window
  const MtrrSnapshot m = l.snapshot();
  SECTION("eager") {
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, 1ull << 40, feats(true)) == EptStatus::ok);
    check_leaf(ept, bar - K4, M2, UC);       // the split 1 GiB: 2 MiB pages on both sides
    check_leaf(ept, bar, M2, WC);
    check_leaf(ept, bar + 256 * 0x100000 - K4, M2, WC);
    check_leaf(ept, bar + 256 * 0x100000, M2, UC);
    check_leaf(ept, G512 - K4, G1, UC);  // 1 GiB edges around 512 GiB (a new PDPT): whole pages
    check_leaf(ept, G512, G1, UC);
    check_leaf(ept, (bar & ~(G1 - 1)) + G1, G1, UC);
    CHECK(ept.stats().leaves_2m == 512);
  }
  SECTION("an eager end that is not 1 GiB aligned, the rest on demand") {
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, G4 + M2, feats(true), 1ull << 40) == EptStatus::ok);
    CHECK(ept.reach() == 1ull << 40);
    check_leaf(ept, G4, M2, UC);
    CHECK_FALSE(ept.translate(G4 + M2).mapped);
    uint64_t added = 0;
    REQUIRE(ept.map_on_demand(m, G4 + 5 * M2, &added) == EptStatus::ok);
    CHECK(added == 511);                     // [4 GiB + 2 MiB, 5 GiB): the rest of the block, 2 MiB pages
    check_leaf(ept, G4 + M2, M2, UC);
    check_leaf(ept, G4 + G1 - K4, M2, UC);
    CHECK_FALSE(ept.translate(G4 + G1).mapped);  // the next block waits for its own access
    REQUIRE(ept.map_on_demand(m, bar + 5, &added) == EptStatus::ok);
    check_leaf(ept, bar, M2, WC);
    check_leaf(ept, bar - K4, M2, UC);
    CHECK(ept.stats().on_demand_blocks == 2);
  }
}

TEST_CASE("EPT on demand: mapped once, refused outside, the top block, and re-typed with the rest") {
  MtrrLayout l(UC, true, false, 8, true, 46);
  l.var(0, 0, G4, WB);
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, G4, feats(true), 1ull << 46) == EptStatus::ok);
  const size_t low_tables = a.allocated();
  const uint64_t top = 1ull << 46;
  CHECK_FALSE(ept.translate(top - K4).mapped);
  uint64_t added = 0;
  CHECK(ept.map_on_demand(m, G1, &added) == EptStatus::not_mapped);  // below: the eager map's
  CHECK(ept.map_on_demand(m, top, &added) == EptStatus::not_mapped);  // 2^MAXPHYADDR: beyond
  REQUIRE(ept.map_on_demand(m, top - K4, &added) == EptStatus::ok);
  CHECK(added == 1);
  check_leaf(ept, top - G1, G1, UC);
  CHECK(a.allocated() == low_tables + 1);  // one PDPT for the top 512 GiB
  REQUIRE(ept.map_on_demand(m, top - G1, &added) == EptStatus::ok);  // another CPU came first
  CHECK(added == 0);
  CHECK(a.allocated() == low_tables + 1);
  // The guest's MTRRs change: a WC range over the top block. retype() reaches it.
  MtrrLayout l2(UC, true, false, 8, true, 46);
  l2.var(0, 0, G4, WB).var(1, top - G1, G1 / 2, WC);
  EptIdentityMap::RetypeResult r;
  REQUIRE(ept.retype(l2.snapshot(), &r) == EptStatus::ok);
  CHECK(r.splits == 1);
  check_leaf(ept, top - G1, M2, WC);
  check_leaf(ept, top - K4, M2, UC);
}

TEST_CASE("EPT on demand: a 5-level walk for MAXPHYADDR 52, or a refusal without one") {
  MtrrLayout l(UC, true, false, 8, true, 52);
  l.var(0, 0, G4, WB);
  const MtrrSnapshot m = l.snapshot();
  const EptExtent x = plan_ept_extent(52, G4, feats(true, true));
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, x.eager_end, feats(true, true), x.reach) == EptStatus::ok);
  CHECK(ept.levels() == 5);
  CHECK(ept.eptp().walk_length() == 5);
  CHECK(ept.eptp().raw == (ept.pml4_phys() | 0x26));  // WB, walk length 5 -> 4 << 3
  check_leaf(ept, 0x1000, G1, WB);  // no fixed ranges: the first GiB is one page
  CHECK_FALSE(ept.translate((1ull << 52) - K4).mapped);
  const size_t before = a.allocated();
  REQUIRE(ept.map_on_demand(m, (1ull << 52) - K4) == EptStatus::ok);
  check_leaf(ept, (1ull << 52) - G1, G1, UC);
  CHECK(a.allocated() == before + 2);  // a PML4 and a PDPT for the top 512 GiB
  FakePageAllocator b;
  EptIdentityMap four(b);
  CHECK(four.build_identity(m, G4, feats(true, false), 1ull << 52) == EptStatus::beyond_guest_width);
}

TEST_CASE("EPT on demand: an exhausted pool gives a UC large page, or nothing, never a partial map") {
  MtrrLayout l(UC, true, false, 8, true, 46);
  l.var(0, 0, G4, WB).var(1, G512 + G1, G1 / 4, WC);  // splits the block at 513 GiB
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator probe;
  {
    EptIdentityMap e(probe);
    REQUIRE(e.build_identity(m, G4, feats(true), 1ull << 46) == EptStatus::ok);
  }
  const size_t low_tables = probe.allocated();
  SECTION("room for the PDPT, none for the PD the WC range needs: the 1 GiB page is UC") {
    FakePageAllocator a(low_tables + 1);
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, G4, feats(true), 1ull << 46) == EptStatus::ok);
    REQUIRE(ept.map_on_demand(m, G512 + G1 + 7) == EptStatus::ok);
    check_leaf(ept, G512 + G1, G1, UC);
    CHECK(ept.stats().uc_fallback_bytes == G1);
  }
  SECTION("no room for the PDPT: out of memory, nothing mapped") {
    FakePageAllocator a(low_tables);
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, G4, feats(true), 1ull << 46) == EptStatus::ok);
    CHECK(ept.map_on_demand(m, G512 + G1 + 7) == EptStatus::out_of_memory);
    CHECK_FALSE(ept.translate(G512 + G1).mapped);
    CHECK(ept.stats().on_demand_blocks == 0);
  }
  SECTION("room for everything: 2 MiB pages with the WC range") {
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, G4, feats(true), 1ull << 46) == EptStatus::ok);
    REQUIRE(ept.map_on_demand(m, G512 + G1 + 7) == EptStatus::ok);
    check_leaf(ept, G512 + G1, M2, WC);
    check_leaf(ept, G512 + G1 + G1 / 4, M2, UC);
  }
}
