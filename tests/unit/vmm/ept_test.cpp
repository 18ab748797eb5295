// The EPT identity map (vmm/ept/ept_builder.hpp): entry formats and EPTP (SDM Vol. 3C 29.3.2,
// 25.6.11), memory types from the MTRRs at many probe points, page sizes where the type is
// uniform, hide() and set_permissions() with the splits they need. The tables are also walked
// here, independently of translate(), through the fake allocator.
#include <catch.hpp>

#include <random>

#include "ept_test_support.hpp"
#include "vmm/ept/ept_builder.hpp"

using namespace ept_test;

namespace {

constexpr uint64_t K4 = 0x1000, M2 = 0x200000, G1 = 0x40000000;

EptFeatures features(bool g1, bool m2, bool exec_only = false) {
  EptFeatures f;
  f.pages_1g = g1;
  f.pages_2m = m2;
  f.execute_only = exec_only;
  return f;
}

// What the tables hold, found by walking them from the PML4.
struct TableCensus {
  uint64_t tables = 0;
  uint64_t leaves[4] = {};  // by level: [1] 4 KiB, [2] 2 MiB, [3] 1 GiB
  uint64_t hidden = 0;
  uint64_t bad = 0;         // entries that break a format rule or the identity
};

void census(const FakePageAllocator& a, uint64_t phys, unsigned level, uint64_t gpa, TableCensus& c) {
  ++c.tables;
  const uint64_t* t = a.table(phys);
  const uint64_t span = 1ull << (12 + 9 * (level - 1));
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t e = t[i];
    if (e == 0) continue;
    const uint64_t at = gpa + i * span;
    const bool leaf = level == 1 || ((level == 2 || level == 3) && (e & 0x80));
    if (!leaf) {
      if ((e & 0xf8) != 0 || (e & 7) != 7) ++c.bad;  // bits 7:3 reserved, rights all granted
      census(a, e & 0x000ffffffffff000ull, level - 1, at, c);
      continue;
    }
    ++c.leaves[level];
    if (e & (1ull << 11)) {
      ++c.hidden;
      if (e & 7) ++c.bad;  // hidden pages grant nothing
    }
    const uint64_t type = (e >> 3) & 7;
    if (type == 2 || type == 3 || type == 7) ++c.bad;           // reserved (29.3.3.1)
    if ((e & 0x000ffffffffff000ull) != at) ++c.bad;              // identity, reserved low bits 0
    if ((e & 0x40) != 0) ++c.bad;                                // ignore-PAT stays clear
    if ((e & 3) == 2) ++c.bad;                                   // write without read
  }
}

TableCensus census(const FakePageAllocator& a, const EptIdentityMap& ept) {
  TableCensus c;
  census(a, ept.pml4_phys(), ept.levels(), 0, c);
  return c;
}

// OVMF on QEMU/Bochs-like: WB default, UC 3-4 GiB, fixed ranges with UC VGA and WP ROM.
MtrrLayout ovmf_like() {
  MtrrLayout l(WB, true, true, 8, true, 39);
  l.var(0, 0xc0000000, 0x40000000, UC).fixed(0xa0000, 0xc0000, UC).fixed(0xc0000, 0x100000, WP);
  return l;
}

struct Probe {
  uint64_t gpa;
  uint8_t type;
  uint64_t page_size;  // 0: not mapped
};

void check_probes(const EptIdentityMap& ept, const std::vector<Probe>& probes) {
  for (const Probe& p : probes) {
    CAPTURE(p.gpa);
    const EptTranslation t = ept.translate(p.gpa);
    CHECK(t.mapped == (p.page_size != 0));
    CHECK(t.page_size == p.page_size);
    if (!p.page_size) continue;
    CHECK(t.present);
    CHECK(t.hpa == p.gpa);
    CHECK(static_cast<uint8_t>(t.type) == p.type);
    CHECK((t.r && t.w && t.x));
    CHECK_FALSE(t.ignore_pat);
  }
}

// translate() against the MTRR oracle at `count` random addresses below `end`.
void check_random_probes(const EptIdentityMap& ept, const MtrrLayout& l, uint64_t end, int count) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < count; ++i) {
    const uint64_t gpa = rng() % end;
    CAPTURE(gpa);
    const EptTranslation t = ept.translate(gpa);
    REQUIRE(t.mapped);
    CHECK(t.hpa == gpa);
    CHECK(static_cast<uint8_t>(t.type) == reference_type(l, gpa).type);
  }
}

}  // namespace

TEST_CASE("EPT entry and EPTP formats (SDM 29.3.2, 25.6.11)") {
  const EptEntry leaf4k = EptEntry::leaf(0x12345000, 1, MemoryType::wb, ept_access(true, true, true));
  CHECK(leaf4k.raw == 0x12345037);  // RWX 7, type 6 << 3
  const EptEntry leaf2m = EptEntry::leaf(0x40200000, 2, MemoryType::uc, ept_access(true, false, true));
  CHECK(leaf2m.raw == 0x40200085);  // R+X, UC, large
  const EptEntry leaf1g = EptEntry::leaf(0x1c0000000, 3, MemoryType::wt, ept_access(true, true, false));
  CHECK(leaf1g.raw == 0x1c00000a3);
  CHECK(leaf1g.is_leaf(3));
  CHECK_FALSE(leaf1g.is_leaf(4));
  CHECK(leaf1g.page_address(3) == 0x1c0000000);
  CHECK(leaf1g.memory_type() == MemoryType::wt);
  const EptEntry table = EptEntry::table(0x5a5a00003000);
  CHECK(table.raw == 0x5a5a00003007);
  CHECK_FALSE(table.is_leaf(2));
  CHECK(table.table_address() == 0x5a5a00003000);

  CHECK(Eptp::make(0x5a5a00000000, false).raw == 0x5a5a0000001e);  // WB 6, walk length 4 -> 3 << 3
  CHECK(Eptp::make(0x5a5a00000000, true).raw == 0x5a5a0000005e);   // + A/D bit 6
  CHECK(Eptp::make(0x1000, false, MemoryType::uc).raw == 0x1018);
  const Eptp p = Eptp::make(0x7000, true);
  CHECK(p.walk_length() == 4);
  CHECK(p.memory_type() == MemoryType::wb);
  CHECK(p.accessed_dirty());
  CHECK(p.pml4() == 0x7000);

  CHECK(level_index(0x0000ff8040201000ull, 4) == 0x1ff);
  CHECK(level_index(0x0000ff8040201000ull, 3) == 1);
  CHECK(level_index(0x0000ff8040201000ull, 2) == 1);
  CHECK(level_index(0x0000ff8040201000ull, 1) == 1);
}

TEST_CASE("EPT identity map, OVMF-like MTRRs, 1 GiB pages") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);

  check_probes(ept, {
      {0x0, WB, K4},          {0x9f000, WB, K4},        {0x9ffff, WB, K4},   {0xa0000, UC, K4},
      {0xb8000, UC, K4},      {0xbffff, UC, K4},        {0xc0000, WP, K4},   {0xf0000, WP, K4},
      {0xfffff, WP, K4},      {0x100000, WB, K4},       {0x1ff000, WB, K4},  {0x200000, WB, M2},
      {0x3fffffff, WB, M2},   {0x40000000, WB, G1},     {0xbfffffff, WB, G1}, {0xc0000000, UC, G1},
      {0xfee00000, UC, G1},   {0xffffffff, UC, G1},     {0x100000000, WB, G1}, {0x1ffffffff, WB, G1},
      {0x200000000, 0, 0},    {0x7fffffffff, 0, 0},
  });
  check_random_probes(ept, l, 8 * G1, 2000);

  // [0, 2 MiB) in 4 KiB pages, the rest of the first GiB in 2 MiB pages, then 1 GiB pages.
  CHECK(ept.stats().leaves_1g == 7);
  CHECK(ept.stats().leaves_2m == 511);
  CHECK(ept.stats().leaves_4k == 512);
  CHECK(ept.stats().table_pages == 4);  // PML4, PDPT, PD, PT
  CHECK(ept.stats().table_kib() == 16);
  CHECK(ept.stats().conflict_bytes == 0);
  CHECK(a.allocated() == 4);
  const TableCensus c = census(a, ept);
  CHECK(c.tables == 4);
  CHECK(c.leaves[3] == 7);
  CHECK(c.leaves[2] == 511);
  CHECK(c.leaves[1] == 512);
  CHECK(c.bad == 0);
  CHECK(ept.mapped_end() == 8 * G1);
  CHECK(ept.eptp().raw == (ept.pml4_phys() | 0x1e));
  CHECK(ept.eptp(true).raw == (ept.pml4_phys() | 0x5e));
  CHECK(ept.pml4_phys() == FakePageAllocator::kPhysBase);
}

TEST_CASE("EPT identity map without 1 GiB pages uses 2 MiB pages") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(false, true)) == EptStatus::ok);
  check_probes(ept, {{0x0, WB, K4}, {0xa0000, UC, K4}, {0x200000, WB, M2}, {0x40000000, WB, M2},
                     {0xbfe00000, WB, M2}, {0xc0000000, UC, M2}, {0xffffffff, UC, M2}, {0x1ffe00000, WB, M2}});
  check_random_probes(ept, l, 8 * G1, 2000);
  CHECK(ept.stats().leaves_1g == 0);
  CHECK(ept.stats().leaves_2m == 511 + 7 * 512);
  CHECK(ept.stats().leaves_4k == 512);
  CHECK(ept.stats().table_pages == 1 + 1 + 8 + 1);  // PML4, PDPT, 8 PDs, PT
  const TableCensus c = census(a, ept);
  CHECK(c.tables == 11);
  CHECK(c.leaves[2] == 4095);
  CHECK(c.bad == 0);
}

TEST_CASE("EPT identity map without large pages uses 4 KiB pages") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, G1, features(false, false)) == EptStatus::ok);
  CHECK(ept.stats().leaves_4k == G1 / K4);
  CHECK(ept.stats().table_pages == 1 + 1 + 1 + 512);
  check_probes(ept, {{0xa0000, UC, K4}, {0x3ffff000, WB, K4}, {0x40000000, 0, 0}});
}

TEST_CASE("EPT page sizes follow MTRR boundaries that are not 1 GiB aligned") {
  MtrrLayout l(WB, true, true, 8, true, 39);
  l.var(0, 0xe0000000, 0x20000000, UC)   // 3.5 .. 4 GiB
      .var(1, 0xd0000000, 0x1000000, WC)  // 16 MiB frame buffer at 3.25 GiB
      .var(2, 0x7ffff000, 0x1000, UC)     // the last page below 2 GiB
      .fixed(0xa0000, 0xc0000, UC);
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  check_probes(ept, {
      {0x7fffe000, WB, K4}, {0x7ffff000, UC, K4}, {0x7fdff000, WB, M2}, {0x7fe00000, WB, K4},
      {0x80000000, WB, G1}, {0xc0000000, WB, M2}, {0xcfe00000, WB, M2}, {0xd0000000, WC, M2},
      {0xd0ffffff, WC, M2}, {0xd1000000, WB, M2}, {0xdfffffff, WB, M2}, {0xe0000000, UC, M2},
      {0xfffff000, UC, M2}, {0x100000000, WB, G1},
  });
  check_random_probes(ept, l, 8 * G1, 4000);
  CHECK(ept.stats().leaves_1g == 5);                // [2, 3) GiB and [4, 8) GiB
  CHECK(ept.stats().leaves_2m == 511 + 511 + 512);  // first, second and fourth GiB
  CHECK(ept.stats().leaves_4k == 1024);             // [0, 2 MiB) and [2 GiB - 2 MiB, 2 GiB)
  CHECK(ept.stats().table_pages == 7);              // PML4, PDPT, 3 PDs, 2 PTs
  CHECK(census(a, ept).bad == 0);
}

TEST_CASE("EPT bottom: 4 KiB pages only while the fixed ranges are on") {
  SECTION("FE = 0 and one type: a 1 GiB page at 0") {
    MtrrLayout l(WB, true, false);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, 4 * G1, features(true, true)) == EptStatus::ok);
    CHECK(ept.translate(0).page_size == G1);
    CHECK(ept.stats().table_pages == 2);
  }
  SECTION("FE = 1, every fixed range WB: still 4 KiB below 1 MiB") {
    MtrrLayout l(WB, true, true);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, 4 * G1, features(true, true)) == EptStatus::ok);
    CHECK(ept.translate(0xff000).page_size == K4);
    CHECK(ept.translate(0x200000).page_size == M2);
    CHECK(ept.translate(G1).page_size == G1);
  }
  SECTION("E = 0: everything UC, in 1 GiB pages") {
    MtrrLayout l(WB, false, true);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, 4 * G1, features(true, true)) == EptStatus::ok);
    CHECK(ept.translate(0).page_size == G1);
    CHECK(ept.translate(0).type == MemoryType::uc);
    CHECK(ept.translate(0x100000000 - 1).type == MemoryType::uc);
  }
}

TEST_CASE("EPT build: an unaligned end, conflicts, and refusals") {
  SECTION("max_phys not 1 GiB aligned") {
    MtrrLayout l(WB, true, false);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, G1 + M2 + 0x1234, features(true, true)) == EptStatus::ok);
    CHECK(ept.mapped_end() == G1 + M2 + 0x2000);
    check_probes(ept, {{0, WB, G1}, {G1, WB, M2}, {G1 + M2, WB, K4}, {G1 + M2 + 0x1fff, WB, K4},
                       {G1 + M2 + 0x2000, 0, 0}});
  }
  SECTION("an undefined overlap is mapped UC and counted") {
    MtrrLayout l(WB, true, false, 8, true, 39);
    l.var(0, G1, G1, WC).var(1, G1, G1, WB);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    REQUIRE(ept.build_identity(m, 4 * G1, features(true, true)) == EptStatus::ok);
    CHECK(ept.translate(G1).type == MemoryType::uc);
    CHECK(ept.stats().conflict_bytes == G1);
  }
  SECTION("refusals") {
    MtrrLayout l(WB, true, true, 8, true, 36);
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a;
    EptIdentityMap ept(a);
    CHECK(ept.build_identity(m, 0, features(true, true)) == EptStatus::invalid_range);
    CHECK(ept.build_identity(m, (1ull << 36) + 1, features(true, true)) == EptStatus::beyond_maxphyaddr);
    MtrrLayout wide(WB, true, true, 8, true, 52);
    const MtrrSnapshot mw = wide.snapshot();
    CHECK(ept.build_identity(mw, (1ull << 48) + K4, features(true, true)) == EptStatus::beyond_guest_width);
    CHECK_FALSE(ept.built());
    CHECK(ept.hide(0, K4) == EptStatus::not_built);
    CHECK_FALSE(ept.translate(0).mapped);
    CHECK(a.allocated() == 0);
    REQUIRE(ept.build_identity(m, 1ull << 36, features(true, true)) == EptStatus::ok);
    CHECK(ept.build_identity(m, 1ull << 36, features(true, true)) == EptStatus::already_built);
    CHECK(ept.translate((1ull << 36) - 1).mapped);
  }
  SECTION("out of memory") {
    MtrrLayout l = ovmf_like();
    const MtrrSnapshot m = l.snapshot();
    FakePageAllocator a(3);
    EptIdentityMap ept(a);
    CHECK(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::out_of_memory);
    FakePageAllocator none(0);
    EptIdentityMap ept2(none);
    CHECK(ept2.build_identity(m, 8 * G1, features(true, true)) == EptStatus::out_of_memory);
    CHECK_FALSE(ept2.built());
  }
  CHECK(std::string(ept_status_name(EptStatus::hidden_page)) == "hidden_page");
}

TEST_CASE("hide(): exactly the pages touched, split around them, neighbours keep their type") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  const EptStats before = ept.stats();

  // Unaligned: 0x12345678 + 0x3000 touches the pages 0x12345000 .. 0x12348000 (inside a 2 MiB page).
  REQUIRE(ept.hide(0x12345678, 0x3000) == EptStatus::ok);
  for (uint64_t p = 0x12345000; p <= 0x12348000; p += K4) {
    CAPTURE(p);
    const EptTranslation t = ept.translate(p + 0x10);
    CHECK(t.mapped);
    CHECK_FALSE(t.present);
    CHECK(t.hidden);
    CHECK_FALSE((t.r || t.w || t.x));
    CHECK(t.page_size == K4);
  }
  check_probes(ept, {{0x12344000, WB, K4}, {0x12344fff, WB, K4}, {0x12349000, WB, K4},
                     {0x12200000, WB, K4}, {0x123ff000, WB, K4}, {0x12400000, WB, M2}, {0x12000000, WB, M2}});
  CHECK(ept.stats().hidden_pages == 4);
  CHECK(ept.stats().leaves_2m == before.leaves_2m - 1);
  CHECK(ept.stats().leaves_4k == before.leaves_4k + 512);
  CHECK(ept.stats().table_pages == before.table_pages + 1);

  // Inside the UC 1 GiB page: split to 2 MiB, then to 4 KiB; the rest stays UC.
  REQUIRE(ept.hide(0xc0001000, 1) == EptStatus::ok);
  check_probes(ept, {{0xc0000000, UC, K4}, {0xc0002000, UC, K4}, {0xc01ff000, UC, K4},
                     {0xc0200000, UC, M2}, {0xfee00000, UC, M2}, {0xbfe00000, WB, G1}});
  CHECK(ept.translate(0xc0001000).hidden);
  CHECK(ept.translate(0xc0001000).type == MemoryType::uc);
  CHECK(ept.stats().leaves_1g == before.leaves_1g - 1);
  CHECK(ept.stats().leaves_2m == before.leaves_2m - 1 + 511);
  CHECK(ept.stats().table_pages == before.table_pages + 3);

  // Across a 2 MiB boundary, and a fixed-range page.
  REQUIRE(ept.hide(0x1003ff800, 0x1000) == EptStatus::ok);
  CHECK(ept.translate(0x1003ff000).hidden);
  CHECK(ept.translate(0x100400000).hidden);
  CHECK_FALSE(ept.translate(0x1003fe000).hidden);
  CHECK_FALSE(ept.translate(0x100401000).hidden);
  REQUIRE(ept.hide(0xa0000, K4) == EptStatus::ok);
  CHECK(ept.translate(0xa0000).hidden);
  CHECK(ept.translate(0xa1000).present);
  CHECK(ept.translate(0xa1000).type == MemoryType::uc);
  CHECK(ept.stats().hidden_pages == 4 + 1 + 2 + 1);

  // Idempotent; beyond the map there is nothing to hide; bad ranges.
  const EptStats now = ept.stats();
  REQUIRE(ept.hide(0x12345000, 0x4000) == EptStatus::ok);
  CHECK(ept.stats().hidden_pages == now.hidden_pages);
  CHECK(ept.stats().table_pages == now.table_pages);
  CHECK(ept.hide(9 * G1, G1) == EptStatus::ok);
  CHECK(ept.hide(8 * G1 - K4, 2 * K4) == EptStatus::ok);
  CHECK(ept.translate(8 * G1 - K4).hidden);
  CHECK(ept.hide(0x1000, 0) == EptStatus::invalid_range);
  CHECK(ept.hide(~0ull - 0xfff, 0x2000) == EptStatus::invalid_range);

  const TableCensus c = census(a, ept);
  CHECK(c.bad == 0);
  CHECK(c.hidden == ept.stats().hidden_pages);
  CHECK(c.tables == ept.stats().table_pages);
  CHECK(c.leaves[1] == ept.stats().leaves_4k);
  CHECK(c.leaves[2] == ept.stats().leaves_2m);
  CHECK(c.leaves[3] == ept.stats().leaves_1g);
}

TEST_CASE("hide() of a large region: every page gone, the pages around intact") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  const uint64_t base = 0x7f3ff000, size = 0x801000;  // 8 MiB + 4 KiB, across 2 MiB pages
  REQUIRE(ept.hide(base, size) == EptStatus::ok);
  CHECK(ept.stats().hidden_pages == size / K4);
  for (uint64_t p = base; p < base + size; p += K4) {
    if (!ept.translate(p).hidden) FAIL("page " << p << " still visible");
  }
  CHECK(ept.translate(base - K4).present);
  CHECK(ept.translate(base + size).present);
}

TEST_CASE("set_permissions(): write-protect, restore, refuse what must not happen") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  const EptStats before = ept.stats();

  // Write-protect one page of a 1 GiB page.
  REQUIRE(ept.set_permissions(0x140000010, 8, true, false, true) == EptStatus::ok);
  EptTranslation t = ept.translate(0x140000000);
  CHECK((t.present && t.r && !t.w && t.x));
  CHECK(t.page_size == K4);
  CHECK(t.type == MemoryType::wb);
  CHECK(ept.translate(0x140001000).w);
  CHECK(ept.translate(0x13ffff000).w);
  CHECK(ept.stats().table_pages == before.table_pages + 2);

  // Restoring RWX over the same page needs no new split.
  REQUIRE(ept.set_permissions(0x140000000, K4, true, true, true) == EptStatus::ok);
  CHECK(ept.translate(0x140000000).w);
  CHECK(ept.stats().table_pages == before.table_pages + 2);

  // A whole 2 MiB page changes in place; a whole 1 GiB page too.
  REQUIRE(ept.set_permissions(0x140200000, M2, true, false, false) == EptStatus::ok);
  t = ept.translate(0x1403fffff);
  CHECK((t.r && !t.w && !t.x));
  CHECK(t.page_size == M2);
  REQUIRE(ept.set_permissions(0x1c0000000, G1, true, false, true) == EptStatus::ok);
  CHECK(ept.translate(0x1c0000000).page_size == G1);
  CHECK_FALSE(ept.translate(0x1ffffffff).w);
  // Rights already as asked: nothing to split.
  REQUIRE(ept.set_permissions(0x1c0001000, K4, true, false, true) == EptStatus::ok);
  CHECK(ept.translate(0x1c0001000).page_size == G1);
  CHECK(ept.stats().table_pages == before.table_pages + 2);

  // No access at all is allowed (not hidden, still mapped).
  REQUIRE(ept.set_permissions(0x5000000, K4, false, false, false) == EptStatus::ok);
  t = ept.translate(0x5000000);
  CHECK((t.mapped && !t.present && !t.hidden));

  // EPT misconfigurations are refused (29.3.3.1).
  CHECK(ept.set_permissions(0x6000000, K4, false, true, false) == EptStatus::invalid_permissions);
  CHECK(ept.set_permissions(0x6000000, K4, false, true, true) == EptStatus::invalid_permissions);
  CHECK(ept.set_permissions(0x6000000, K4, false, false, true) == EptStatus::invalid_permissions);
  CHECK(ept.translate(0x6000000).w);

  // Hidden pages stay hidden: a range touching one changes nothing at all.
  REQUIRE(ept.hide(0x7000000, K4) == EptStatus::ok);
  CHECK(ept.set_permissions(0x6fff000, 3 * K4, true, false, true) == EptStatus::hidden_page);
  CHECK(ept.translate(0x6fff000).w);
  CHECK(ept.translate(0x7001000).w);
  CHECK_FALSE(ept.translate(0x7000000).present);
  CHECK(ept.set_permissions(0x7000000, K4, true, true, true) == EptStatus::hidden_page);
  CHECK(ept.translate(0x7000000).hidden);

  // Outside the map.
  CHECK(ept.set_permissions(8 * G1 - K4, 2 * K4, true, true, true) == EptStatus::not_mapped);
  CHECK_FALSE(ept.translate(8 * G1 - K4).w);  // still as set above: nothing changed
  CHECK(ept.set_permissions(0, 0, true, true, true) == EptStatus::invalid_range);
  CHECK(census(a, ept).bad == 0);
}

TEST_CASE("set_permissions(): execute-only only where the CPU allows it") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 4 * G1, features(true, true, true)) == EptStatus::ok);
  REQUIRE(ept.set_permissions(0x300000, K4, false, false, true) == EptStatus::ok);
  const EptTranslation t = ept.translate(0x300000);
  CHECK((t.present && !t.r && !t.w && t.x));
}

TEST_CASE("hide() with a zero-page backing: hidden pages read the decoy, never the hypervisor") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  constexpr uint64_t kDecoy = 0x7000;
  ept.set_hidden_backing(kDecoy);
  REQUIRE(ept.hide(0x0e09e000, 0x2000) == EptStatus::ok);
  for (uint64_t gpa : {0x0e09e000ull, 0x0e09f123ull}) {
    CAPTURE(gpa);
    EptTranslation t = ept.translate(gpa);
    CHECK(t.hidden);
    CHECK(t.present);
    CHECK(t.r);
    CHECK_FALSE(t.w);
    CHECK(t.x);  // an instruction fetch gets the zero page, as a read does (P8)
    CHECK(t.hpa == kDecoy + (gpa & 0xfff));
  }
  EptTranslation next = ept.translate(0x0e0a0000);  // the neighbour keeps its identity mapping
  CHECK_FALSE(next.hidden);
  CHECK(next.hpa == 0x0e0a0000);
  CHECK(next.w);
}

TEST_CASE("redirect_hidden(): a hidden page becomes a writable sink for a delivery, then the zero page again") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  constexpr uint64_t kDecoy = 0x7000, kSink = 0x9000;
  CHECK(ept.redirect_hidden(0x0e09e000, kSink) == EptStatus::not_mapped);  // no decoy yet
  ept.set_hidden_backing(kDecoy);
  REQUIRE(ept.hide(0x0e09e000, 0x2000) == EptStatus::ok);
  REQUIRE(ept.redirect_hidden(0x0e09f000, kSink) == EptStatus::ok);
  EptTranslation t = ept.translate(0x0e09f008);
  CHECK((t.hidden && t.r && t.w && t.x));
  CHECK(t.hpa == kSink + 8);
  CHECK(t.type == MemoryType::wb);
  CHECK(ept.translate(0x0e09e000).hpa == kDecoy);  // only that page
  REQUIRE(ept.redirect_hidden(0x0e09f000, 0) == EptStatus::ok);
  t = ept.translate(0x0e09f008);
  CHECK((t.hidden && t.r && !t.w && t.x));
  CHECK(t.hpa == kDecoy + 8);
  // Never a page the guest owns: its own memory stays its own.
  CHECK(ept.redirect_hidden(0x0e0a0000, kSink) == EptStatus::not_mapped);
  CHECK(ept.translate(0x0e0a0000).hpa == 0x0e0a0000);
  CHECK(ept.redirect_hidden(16 * G1, kSink) == EptStatus::not_mapped);
}

// The local-APIC page as an event delivery's sink (vmm/monitor/write_monitor.hpp,
// sink_apic_delivery): pointed at the sink, then the very entry it had back. Under APIC
// virtualization the page may lie in a large page: split once, its type and rights kept.
TEST_CASE("redirect_leaf(): the APIC page becomes a sink for a delivery, then exactly what it was") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  constexpr uint64_t kApic = 0xfee00000, kSink = 0x9000;
  const EptTranslation before = ept.translate(kApic);
  REQUIRE(before.page_size > K4);  // a large page: the intercept-less (APIC virtualization) case
  uint64_t saved = 0;
  REQUIRE(ept.redirect_leaf(kApic + 0xff8, kSink, &saved) == EptStatus::ok);
  EptTranslation t = ept.translate(kApic + 0xff8);
  CHECK((t.r && t.w && t.x));
  CHECK(t.hpa == kSink + 0xff8);
  CHECK(t.type == MemoryType::wb);
  CHECK(t.page_size == K4);
  CHECK(ept.translate(kApic + K4).hpa == kApic + K4);  // only that page
  CHECK(ept.translate(kApic + K4).type == before.type);
  REQUIRE(ept.restore_leaf(kApic, saved) == EptStatus::ok);
  t = ept.translate(kApic + 0x300);
  CHECK(t.hpa == kApic + 0x300);
  CHECK(t.type == before.type);
  CHECK((t.r == before.r && t.w == before.w && t.x == before.x));
  // Write-protected as the intercept has it (a 4 KiB leaf already): R+X comes back, not R+W+X.
  REQUIRE(ept.set_permissions(kApic, K4, true, false, true) == EptStatus::ok);
  const uint64_t tables = ept.stats().table_pages;
  REQUIRE(ept.redirect_leaf(kApic, kSink, &saved) == EptStatus::ok);
  CHECK(ept.stats().table_pages == tables);  // no split needed
  CHECK(ept.translate(kApic).w);
  REQUIRE(ept.restore_leaf(kApic, saved) == EptStatus::ok);
  CHECK_FALSE(ept.translate(kApic).w);
  CHECK(ept.translate(kApic).hpa == kApic);
  // Never hypervisor memory (redirect_hidden's), never outside the map.
  REQUIRE(ept.hide(0x0e09e000, K4) == EptStatus::ok);
  CHECK(ept.redirect_leaf(0x0e09e000, kSink, &saved) == EptStatus::hidden_page);
  CHECK(ept.redirect_leaf(16 * G1, kSink, &saved) == EptStatus::not_mapped);
}

TEST_CASE("retype(): a new MTRR layout re-types leaves, splits where needed, keeps rights and hidden pages") {
  MtrrLayout l = ovmf_like();
  const MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  EptIdentityMap ept(a);
  REQUIRE(ept.build_identity(m, 8 * G1, features(true, true)) == EptStatus::ok);
  REQUIRE(ept.hide(0x12345000, K4) == EptStatus::ok);
  REQUIRE(ept.set_permissions(0x140000000, K4, true, false, true) == EptStatus::ok);

  // The same MTRRs again (an OS copying the BSP's MTRRs to an AP): nothing changes.
  EptIdentityMap::RetypeResult r;
  REQUIRE(ept.retype(m, &r) == EptStatus::ok);
  CHECK(r.changed_leaves == 0);
  CHECK(r.splits == 0);

  // The guest adds a WC range of 8 MiB inside the WB 1 GiB page at 2 GiB, a UC range of 2 MiB
  // inside a WB 1 GiB page above 4 GiB, and turns the VGA hole WC.
  l.var(1, 0x80000000, 0x800000, WC).var(2, 0x140200000, M2, UC).fixed(0xa0000, 0xc0000, WC);
  const MtrrSnapshot m2 = l.snapshot();
  const EptStats before = ept.stats();
  REQUIRE(ept.retype(m2, &r) == EptStatus::ok);
  check_probes(ept, {{0x80000000, WC, M2}, {0x807ff000, WC, M2}, {0x80800000, WB, M2}, {0xbfe00000, WB, M2}, {0x7ffff000, WB, G1},
                     {0x140200000, UC, M2}, {0x140400000, WB, M2}, {0xa0000, WC, K4}, {0xbf000, WC, K4},
                     {0xc0000, WP, K4}, {0xc0000000, UC, G1}});
  CHECK(r.changed_leaves == 4 + 1 + 32);  // 4 x 2 MiB WC, 1 x 2 MiB UC, 32 x 4 KiB VGA pages
  CHECK(r.splits == 1);                   // the 1 GiB page at 2 GiB (the one at 5 GiB was split before)
  CHECK(ept.stats().leaves_1g == before.leaves_1g - 1);
  CHECK(ept.stats().table_pages == before.table_pages + 1);
  CHECK(r.conflict_bytes == 0);
  // What set_permissions and hide did survives the new types.
  const EptTranslation wp = ept.translate(0x140000000);
  CHECK((wp.r && !wp.w && wp.x));
  CHECK(wp.type == MemoryType::wb);
  CHECK(ept.translate(0x12345000).hidden);
  CHECK_FALSE(ept.translate(0x12345000).present);
  check_random_probes(ept, l, 8 * G1, 4000);

  // Back to the first layout: the types return, the splits stay (nothing is merged).
  l.var_raw(1, 0, 0).var_raw(2, 0, 0).fixed(0xa0000, 0xc0000, UC);
  const EptStats split_state = ept.stats();
  REQUIRE(ept.retype(l.snapshot(), &r) == EptStatus::ok);
  CHECK(r.splits == 0);
  CHECK(ept.stats().table_pages == split_state.table_pages);
  check_probes(ept, {{0x80000000, WB, M2}, {0x140200000, WB, M2}, {0xa0000, UC, K4}});
  check_random_probes(ept, l, 8 * G1, 4000);

  const TableCensus c = census(a, ept);
  CHECK(c.bad == 0);
  CHECK(c.leaves[1] == ept.stats().leaves_4k);
  CHECK(c.leaves[2] == ept.stats().leaves_2m);
  CHECK(c.leaves[3] == ept.stats().leaves_1g);
}

TEST_CASE("retype(): refused before a build; undefined overlaps become UC and are counted") {
  FakePageAllocator a;
  EptIdentityMap ept(a);
  MtrrLayout l = ovmf_like();
  CHECK(ept.retype(l.snapshot()) == EptStatus::not_built);
  REQUIRE(ept.build_identity(l.snapshot(), 4 * G1, features(true, true)) == EptStatus::ok);
  // WC over WB is an undefined overlap (SDM Vol. 3A 12.11.4.1): UC.
  l.var(1, 0x40000000, M2, WC).var(2, 0x40000000, M2, WB);
  EptIdentityMap::RetypeResult r;
  REQUIRE(ept.retype(l.snapshot(), &r) == EptStatus::ok);
  CHECK(r.conflict_bytes == M2);
  check_probes(ept, {{0x40000000, UC, M2}, {0x40200000, WB, M2}});
}
