// The MTRR model (vmm/ept/mtrr.hpp): which MSRs are read, and SDM Vol. 3A 12.11.4.1 precedence
// row by row: E clear, fixed ranges below 1 MiB, variable matches and overlaps, the default
// type, mask alignment; then range uniformity, cross-checked against a per-page oracle.
#include <catch.hpp>

#include <algorithm>
#include <random>

#include "ept_test_support.hpp"

using namespace ept_test;

namespace {

uint8_t type_at(const MtrrSnapshot& m, uint64_t a, bool* conflict = nullptr) {
  return static_cast<uint8_t>(memory_type(m, a, conflict));
}

struct Var {
  uint64_t base, size;
  uint8_t type;
};

}  // namespace

TEST_CASE("MTRR snapshot reads only the MSRs the CPU has (SDM 12.11.1)") {
  SECTION("no MTRRs (CPUID.1:EDX.MTRR = 0): nothing is read, everything UC") {
    MtrrLayout l(WB);
    const MtrrSnapshot m = load_mtrrs(&MsrFile::read, &l.file, false, 39);
    CHECK(l.file.reads.empty());
    CHECK_FALSE(m.enabled());
    CHECK(type_at(m, 0x100000) == UC);
  }
  SECTION("fixed ranges and 8 pairs") {
    MtrrLayout l(WB, true, true, 8, true, 39);
    const MtrrSnapshot m = l.snapshot();
    CHECK(l.file.missing_reads.empty());
    CHECK(l.file.reads.size() == 2 + 11 + 16);
    CHECK(m.variable_count == 8);
    CHECK(m.max_phys_bits == 39);
    CHECK(m.fixed_enabled());
  }
  SECTION("MTRRCAP.FIX = 0: the fixed-range MSRs are not read, FE has no effect") {
    MtrrLayout l(WB, true, true, 2, false);
    l.var(0, 0, 0x100000, UC);
    const MtrrSnapshot m = l.snapshot();
    CHECK(l.file.missing_reads.empty());
    CHECK(l.file.reads == std::vector<uint32_t>{kMtrrCap, kDefType, 0x200, 0x201, 0x202, 0x203});
    CHECK_FALSE(m.fixed_enabled());
    CHECK(type_at(m, 0xa0000) == UC);  // the variable range, not a fixed one
  }
  SECTION("VCNT = 10 reads 0x200..0x213") {
    MtrrLayout l(UC, true, true, 10);
    l.snapshot();
    CHECK(l.file.missing_reads.empty());
    CHECK(std::count(l.file.reads.begin(), l.file.reads.end(), 0x213u) == 1);
    CHECK(std::count(l.file.reads.begin(), l.file.reads.end(), 0x214u) == 0);
  }
  SECTION("MAXPHYADDR 0 (no CPUID.80000008H) means 36") {
    MtrrLayout l(WB);
    CHECK(load_mtrrs(&MsrFile::read, &l.file, true, 0).max_phys_bits == 36);
  }
  SECTION("VCNT above 40 is truncated and flagged") {
    MtrrLayout l(WB, true, true, 41);
    const MtrrSnapshot m = l.snapshot();
    CHECK(m.variable_truncated);
    CHECK(m.variable_count == 40);
  }
}

TEST_CASE("MTRRs disabled (E = 0): all memory UC (12.11.2.1, 12.11.4.1 rule 1)") {
  MtrrLayout l(WB, false, true);
  l.var(0, 0, 0x80000000, WB).fixed(0, 0x100000, WB);
  const MtrrSnapshot m = l.snapshot();
  for (uint64_t a : {0x0ull, 0xa0000ull, 0xfffffull, 0x100000ull, 0x7fffffffull, 0x80000000ull, 0xfffff000ull}) {
    CAPTURE(a);
    CHECK(type_at(m, a) == UC);
  }
  MemoryType t = MemoryType::wb;
  CHECK(range_type(m, 0, 1ull << 36, &t));
  CHECK(t == MemoryType::uc);
}

TEST_CASE("Fixed-range MTRRs: every MSR governs its own sub-ranges (Table 12-9)") {
  struct Row {
    uint64_t addr;
    uint32_t msr;
    unsigned byte;
  };
  const Row rows[] = {
      {0x00000, 0x250, 0}, {0x0ffff, 0x250, 0}, {0x10000, 0x250, 1}, {0x70000, 0x250, 7}, {0x7ffff, 0x250, 7},
      {0x80000, 0x258, 0}, {0x83fff, 0x258, 0}, {0x84000, 0x258, 1}, {0x9c000, 0x258, 7}, {0x9ffff, 0x258, 7},
      {0xa0000, 0x259, 0}, {0xa4000, 0x259, 1}, {0xb8000, 0x259, 6}, {0xbc000, 0x259, 7},
      {0xc0000, 0x268, 0}, {0xc1000, 0x268, 1}, {0xc7fff, 0x268, 7},
      {0xc8000, 0x269, 0}, {0xcf000, 0x269, 7},
      {0xd0000, 0x26a, 0}, {0xd3000, 0x26a, 3},
      {0xd8000, 0x26b, 0}, {0xdf000, 0x26b, 7},
      {0xe0000, 0x26c, 0}, {0xe5000, 0x26c, 5},
      {0xe8000, 0x26d, 0}, {0xef000, 0x26d, 7},
      {0xf0000, 0x26e, 0}, {0xf2000, 0x26e, 2},
      {0xf8000, 0x26f, 0}, {0xfe000, 0x26f, 6}, {0xff000, 0x26f, 7}, {0xfffff, 0x26f, 7},
  };
  for (const Row& r : rows) {
    CAPTURE(r.addr, r.msr, r.byte);
    // All fixed ranges WB except this one byte; a variable UC range under 1 MiB must not count.
    MtrrLayout l(UC);
    l.var(0, 0, 0x100000, UC);
    l.file.msrs[r.msr] = (l.file.msrs[r.msr] & ~(0xffull << (8 * r.byte))) | (uint64_t{WP} << (8 * r.byte));
    const MtrrSnapshot m = l.snapshot();
    CHECK(type_at(m, r.addr) == WP);
    for (const Row& other : rows) {
      const bool same = other.msr == r.msr && other.byte == r.byte;
      CAPTURE(other.addr);
      CHECK(type_at(m, other.addr) == (same ? WP : WB));
    }
    CHECK(type_at(m, 0x100000) == UC);  // 1 MiB: variable ranges again
  }
}

TEST_CASE("Fixed ranges apply only with E = 1 and FE = 1 (12.11.2.1)") {
  struct Row {
    bool e, fe;
    uint8_t at_a0000;
  };
  const Row rows[] = {
      {true, true, UC},    // the fixed range
      {true, false, WT},   // FE clear: the variable range
      {false, true, UC},   // E clear: UC, whatever FE says
      {false, false, UC},
  };
  for (const Row& r : rows) {
    CAPTURE(r.e, r.fe);
    MtrrLayout l(WB, r.e, r.fe);
    l.fixed(0xa0000, 0xc0000, UC).var(0, 0, 0x100000, WT);
    const MtrrSnapshot m = l.snapshot();
    CHECK(type_at(m, 0xa0000) == r.at_a0000);
    CHECK(type_at(m, 0x9f000) == (!r.e ? UC : r.fe ? WB : WT));
  }
}

TEST_CASE("Variable ranges: match, overlap precedence, default (12.11.4.1 rules 2b, 2c)") {
  struct Row {
    const char* what;
    uint8_t default_type;
    std::vector<Var> vars;
    uint64_t probe;
    uint8_t expected;
    bool conflict;
  };
  const Row rows[] = {
      {"no match: default WB", WB, {{0x80000000, 0x80000000, UC}}, 0x40000000, WB, false},
      {"no match: default UC", UC, {{0, 0x80000000, WB}}, 0x80000000, UC, false},
      {"no match: default WT", WT, {}, 0x12345000, WT, false},
      {"one match: WC", UC, {{0xd0000000, 0x10000000, WC}}, 0xd8000000, WC, false},
      {"one match: WP", WB, {{0xff000000, 0x1000000, WP}}, 0xffffffff, WP, false},
      {"same type twice", UC, {{0, 0x80000000, WB}, {0, 0x40000000, WB}}, 0x1000, WB, false},
      {"UC wins over WB", WB, {{0, 0x100000000, WB}, {0xc0000000, 0x40000000, UC}}, 0xc0000000, UC, false},
      {"UC wins, other order", WB, {{0xc0000000, 0x40000000, UC}, {0, 0x100000000, WB}}, 0xfffff000, UC, false},
      {"UC wins over WC", WB, {{0xe0000000, 0x10000000, WC}, {0xe0000000, 0x1000, UC}}, 0xe0000000, UC, false},
      {"UC wins over WT", UC, {{0, 0x10000000, WT}, {0, 0x20000000, UC}}, 0x100000, UC, false},
      {"WT and WB: WT", UC, {{0, 0x80000000, WB}, {0x10000000, 0x10000000, WT}}, 0x10001000, WT, false},
      {"WB and WT: WT", UC, {{0x10000000, 0x10000000, WT}, {0, 0x80000000, WB}}, 0x1fffffff, WT, false},
      {"WB, WT, WB: WT", UC, {{0, 0x80000000, WB}, {0, 0x20000000, WT}, {0, 0x40000000, WB}}, 0x100000, WT, false},
      {"WT, WB, UC: UC", WB, {{0, 0x80000000, WB}, {0, 0x20000000, WT}, {0x100000, 0x2000, UC}}, 0x101000, UC, false},
      {"outside the WT: WB", UC, {{0, 0x80000000, WB}, {0x10000000, 0x10000000, WT}}, 0x20000000, WB, false},
      {"WC and WB: undefined, UC", WB, {{0, 0x80000000, WB}, {0x40000000, 0x1000000, WC}}, 0x40000000, UC, true},
      {"WT and WP: undefined, UC", WB, {{0, 0x1000000, WT}, {0, 0x1000000, WP}}, 0x800000, UC, true},
      {"WC and WP: undefined, UC", UC, {{0x100000, 0x2000, WC}, {0x101000, 0x1000, WP}}, 0x101000, UC, true},
      {"WC alone beside it", UC, {{0x100000, 0x2000, WC}, {0x101000, 0x1000, WP}}, 0x100000, WC, false},
      {"below 1 MiB the fixed range wins", UC, {{0, 0x100000, UC}}, 0x1000, WB, false},
      {"beside the undefined overlap", WB, {{0, 0x80000000, WB}, {0x40000000, 0x1000000, WC}}, 0x41000000, WB, false},
      {"above 1 MiB, fixed ranges do not apply", WB, {{0x100000, 0x100000, WC}}, 0x100000, WC, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    MtrrLayout l(r.default_type);
    for (size_t n = 0; n < r.vars.size(); ++n) l.var(static_cast<unsigned>(n), r.vars[n].base, r.vars[n].size, r.vars[n].type);
    const MtrrSnapshot m = l.snapshot();
    bool conflict = !r.conflict;
    CHECK(type_at(m, r.probe, &conflict) == r.expected);
    CHECK(conflict == r.conflict);
    CHECK(reference_type(l, r.probe).type == r.expected);  // the oracle agrees with the table
  }
}

TEST_CASE("Variable-range masks: alignment, valid bit, MAXPHYADDR (12.11.3)") {
  struct Row {
    const char* what;
    uint64_t physbase, physmask;
    uint8_t maxphys;
    uint64_t probe;
    bool matches;
  };
  constexpr uint64_t V = 1ull << 11;
  const Row rows[] = {
      {"256 MiB at 2 GiB: first byte", 0x80000000 | UC, 0xff0000000 | V, 36, 0x80000000, true},
      {"256 MiB at 2 GiB: last byte", 0x80000000 | UC, 0xff0000000 | V, 36, 0x8fffffff, true},
      {"256 MiB at 2 GiB: just below", 0x80000000 | UC, 0xff0000000 | V, 36, 0x7fffffff, false},
      {"256 MiB at 2 GiB: just above", 0x80000000 | UC, 0xff0000000 | V, 36, 0x90000000, false},
      {"same range, 4 GiB higher (bit 32 is masked)", 0x80000000 | UC, 0xff0000000 | V, 36, 0x180000000, false},
      {"valid bit clear: ignored", 0x80000000 | UC, 0xff0000000, 36, 0x80000000, false},
      {"4 KiB range", 0xfee00000 | UC, 0xffffff000 | V, 36, 0xfee00fff, true},
      {"4 KiB range: next page", 0xfee00000 | UC, 0xffffff000 | V, 36, 0xfee01000, false},
      {"MAXPHYADDR 39: mask bits 38:36 count", 0x80000000 | UC, 0x7ff0000000 | V, 39, 0x1080000000, false},
      {"MAXPHYADDR 36: bits above are not address", 0x80000000 | UC, 0xff0000000 | V, 36, 0x80000000, true},
      {"base bits below the mask are ignored", 0x80001000 | UC, 0xff0000000 | V, 36, 0x80000000, true},
      {"non-contiguous mask: odd pages below 4 GiB", 0x1000 | UC, 0xf00001000 | V, 36, 0x103000, true},
      {"non-contiguous mask: even page", 0x1000 | UC, 0xf00001000 | V, 36, 0x102000, false},
      {"non-contiguous mask: above 4 GiB", 0x1000 | UC, 0xf00001000 | V, 36, 0x100101000, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    MtrrLayout l(WB, true, true, 8, true, r.maxphys);
    l.var_raw(3, r.physbase, r.physmask);
    const MtrrSnapshot m = l.snapshot();
    CHECK(type_at(m, r.probe) == (r.matches ? UC : WB));
    CHECK(reference_type(l, r.probe).type == (r.matches ? UC : WB));
  }
}

TEST_CASE("Variable-range geometry for logging") {
  MtrrLayout l(WB, true, true, 8, true, 39);
  l.var(0, 0xc0000000, 0x40000000, UC).var_raw(1, 0x1000, 0x7f00001000 | (1ull << 11));
  const MtrrSnapshot m = l.snapshot();
  CHECK(m.variable_valid(0));
  CHECK_FALSE(m.variable_valid(2));
  CHECK(m.variable_contiguous(0));
  CHECK(m.variable_base(0) == 0xc0000000);
  CHECK(m.variable_size(0) == 0x40000000);
  CHECK_FALSE(m.variable_contiguous(1));
}

TEST_CASE("Reserved type encodings resolve to UC and count as conflicts") {
  MtrrLayout l(2);  // default type 2: reserved
  l.var_raw(0, 0x10000000 | 7, 0xff0000000 | (1ull << 11));
  l.fixed(0xf0000, 0x100000, 3);
  const MtrrSnapshot m = l.snapshot();
  bool c = false;
  CHECK(type_at(m, 0x20000000, &c) == UC);
  CHECK(c);
  c = false;
  CHECK(type_at(m, 0x10000000, &c) == UC);
  CHECK(c);
  c = false;
  CHECK(type_at(m, 0xf0000, &c) == UC);
  CHECK(c);
  c = true;
  CHECK(type_at(m, 0x0, &c) == WB);  // fixed range, still WB
  CHECK_FALSE(c);
}

TEST_CASE("range_type: is the whole range one type?") {
  // An OVMF-like layout: WB default, UC hole 3-4 GiB over a WB 0-4 GiB range, a redundant WB
  // range, WC frame buffer, fixed ranges with UC VGA and WP ROM.
  MtrrLayout l(WB, true, true, 8, true, 39);
  l.var(0, 0, 0x100000000, WB)
      .var(1, 0xc0000000, 0x40000000, UC)
      .var(2, 0x10000000, 0x1000000, WB)     // partially covers big blocks, changes nothing
      .var(3, 0x800000000, 0x10000000, WC)   // 32 GiB + 256 MiB
      .var(4, 0x800000000, 0x1000, UC)       // first page of it UC
      .fixed(0xa0000, 0xc0000, UC)
      .fixed(0xc0000, 0x100000, WP);
  const MtrrSnapshot m = l.snapshot();
  struct Row {
    const char* what;
    uint64_t base, size;
    bool uniform;
    uint8_t type;  // uniform: the type; else the type at base
  };
  const Row rows[] = {
      {"first 640 KiB", 0, 0xa0000, true, WB},
      {"0 .. 1 MiB: VGA hole", 0, 0x100000, false, WB},
      {"VGA hole", 0xa0000, 0x20000, true, UC},
      {"ROM area", 0xc0000, 0x40000, true, WP},
      {"1 MiB .. 1 GiB", 0x100000, 0x3ff00000, true, WB},
      {"1 MiB .. 3 GiB, redundant WB range inside", 0x100000, 0xbff00000, true, WB},
      {"the 256 MiB at 256 MiB (redundant WB)", 0x10000000, 0x10000000, true, WB},
      {"2 GiB .. 4 GiB", 0x80000000, 0x80000000, false, WB},
      {"UC hole", 0xc0000000, 0x40000000, true, UC},
      {"UC hole, unaligned inside", 0xc0001234, 0x1234567, true, UC},
      {"last page below the hole .. first in it", 0xbffff000, 0x2000, false, WB},
      {"4 GiB .. 32 GiB", 0x100000000, 0x700000000, true, WB},
      {"32 GiB: one UC page", 0x800000000, 0x1000, true, UC},
      {"32 GiB + 4 KiB .. + 256 MiB", 0x800001000, 0xffff000, true, WC},
      {"32 GiB .. + 256 MiB", 0x800000000, 0x10000000, false, UC},
      {"zero size: the page at base", 0xc0000000, 0, true, UC},
      {"byte granular ends round to pages", 0xbffffffe, 2, true, WB},
      {"wrapping range refused", 0xfffffffffffff000ull, 0x2000, false, WB},
      {"whole address space from 1 GiB", 0x40000000, 0xffffffffc0000000ull, false, WB},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    MemoryType t = MemoryType::wc;
    CHECK(range_type(m, r.base, r.size, &t) == r.uniform);
    CHECK(static_cast<uint8_t>(t) == r.type);
  }
}

TEST_CASE("range_type: an undefined overlap is reported with the uniform range") {
  MtrrLayout l(WB);
  l.var(0, 0x40000000, 0x40000000, WC).var(1, 0x40000000, 0x40000000, WT);
  const MtrrSnapshot m = l.snapshot();
  MemoryType t = MemoryType::wb;
  bool conflict = false;
  CHECK(range_type(m, 0x40000000, 0x40000000, &t, &conflict));
  CHECK(t == MemoryType::uc);
  CHECK(conflict);
  CHECK(range_type(m, 0, 0x40000000, &t, &conflict));
  CHECK(t == MemoryType::wb);
  CHECK_FALSE(conflict);
}

TEST_CASE("range_type agrees with a page-by-page oracle on random layouts") {
  std::mt19937_64 rng(20240601);
  auto pick = [&](uint64_t n) { return rng() % n; };
  const uint8_t types[] = {UC, WC, WT, WP, WB};
  for (int layout = 0; layout < 60; ++layout) {
    MtrrLayout l(types[pick(5)], pick(10) != 0, pick(2) == 0, 8, true, 36);
    const unsigned nvars = static_cast<unsigned>(pick(9));
    for (unsigned n = 0; n < nvars; ++n) {
      const unsigned k = 12 + static_cast<unsigned>(pick(15));  // 4 KiB .. 64 MiB, below 256 MiB
      const uint64_t size = 1ull << k;
      const uint64_t base = (pick(0x10000000) >> k) << k;
      // Mostly WB/UC/WT (the defined overlaps), sometimes anything.
      const uint8_t t = pick(4) == 0 ? types[pick(5)] : (pick(3) == 0 ? UC : pick(2) ? WB : WT);
      if (pick(6) == 0 && k < 27) {  // a non-contiguous mask: one bit above the size left out
        const uint64_t hole = 1ull << (k + pick(28 - k));
        l.var_raw(n, base | t, ((~(size - 1) & l.addr_bits()) & ~hole) | (1ull << 11));
      } else {
        l.var(n, base, size, t);
      }
    }
    if (pick(2)) l.fixed(0xa0000, 0xc0000, UC);
    const MtrrSnapshot m = l.snapshot();
    CAPTURE(layout);
    for (int q = 0; q < 40; ++q) {
      const uint64_t base = pick(0x10000000) & ~0xfffull;
      const uint64_t pages = 1 + (pick(3) ? pick(64) : pick(0x4000));
      std::vector<RefType> ref;
      for (uint64_t p = 0; p < pages; ++p) ref.push_back(reference_type(l, base + p * 0x1000));
      bool ref_uniform = true, ref_conflict = false;
      for (const RefType& x : ref) {
        ref_uniform = ref_uniform && x.type == ref[0].type;
        ref_conflict = ref_conflict || x.conflict;
      }
      CAPTURE(base, pages);
      MemoryType t = MemoryType::wb;
      bool conflict = false;
      const bool uniform = range_type(m, base, pages * 0x1000, &t, &conflict);
      REQUIRE(uniform == ref_uniform);
      CHECK(static_cast<uint8_t>(t) == ref[0].type);
      if (uniform) CHECK(conflict == ref_conflict);
      bool c = false;
      CHECK(type_at(m, base, &c) == ref[0].type);
      CHECK(c == ref[0].conflict);
    }
  }
}

TEST_CASE("range_type with a non-contiguous mask") {
  MtrrLayout l(WB);
  l.var_raw(0, 0x1000 | UC, 0xf00001000 | (1ull << 11));  // odd pages below 4 GiB
  const MtrrSnapshot m = l.snapshot();
  struct Row {
    uint64_t base, size;
    bool uniform;
    uint8_t type;
  };
  const Row rows[] = {
      {0x102000, 0x1000, true, WB},
      {0x103000, 0x1000, true, UC},
      {0x102000, 0x2000, false, WB},
      {0x40000000, 0x40000000, false, WB},
      {0x100000000, 0x40000000, true, WB},  // bits 35:32 differ from the base: no match
  };
  for (const Row& r : rows) {
    CAPTURE(r.base, r.size);
    MemoryType t = MemoryType::wc;
    CHECK(range_type(m, r.base, r.size, &t) == r.uniform);
    CHECK(static_cast<uint8_t>(t) == r.type);
  }
}
