// GuestLinearMemory: accesses that straddle pages, faults before any byte is written, the
// write observer, compare-exchange, implicit supervisor accesses.
#include <catch.hpp>

#include "emulate_test_support.hpp"

using namespace emu_test;
using Mode = PageTables::Mode;

namespace {

constexpr uint64_t P = pte::P, RW = pte::RW, US = pte::US;
constexpr uint64_t LIN = 0x00007F0000001000ull;  // page A; page B = LIN + 0x1000

struct Recorder final : WriteObserver {
  std::vector<WriteRecord> records;
  void on_write(const WriteRecord& r) override { records.push_back(r); }
};

// Two consecutive linear pages mapped to non-adjacent physical pages.
struct TwoPages {
  FakePhys phys;
  PageTables pt{phys, Mode::level4};
  TwoPages(uint64_t flags_a = P | RW | US, uint64_t flags_b = P | RW | US) {
    phys.map_ram(0x20000, 0x1000);
    phys.map_ram(0x9000, 0x1000);
    pt.map(LIN, 0x20000, flags_a);
    pt.map(LIN + 0x1000, 0x9000, flags_b);
  }
};

}  // namespace

TEST_CASE("Linear memory: a read across two pages assembles both", "[emulate][linear]") {
  TwoPages m;
  m.phys.poke64(0x20FFC, 0x44332211);
  m.phys.poke64(0x9000, 0x88776655);
  GuestLinearMemory mem(m.phys, m.pt.state());
  uint64_t v = 0;
  REQUIRE(mem.read(LIN + 0xFFC, &v, 8, AccessType::read).ok());
  CHECK(v == 0x8877665544332211ull);
}

TEST_CASE("Linear memory: a write across pages checks both before writing (SDM Vol 3A 6.5)", "[emulate][linear]") {
  struct Row {
    const char* name;
    uint64_t flags_a, flags_b;
    uint8_t cpl;
    uint64_t cr2;
    uint32_t error;
  };
  const Row rows[] = {
      {"second page read-only (supervisor, WP=1)", P | RW, P, 0, LIN + 0x1000, pf_error::P | pf_error::W},
      {"second page not present", P | RW, 0, 0, LIN + 0x1000, pf_error::W},
      {"second page supervisor-only, user write", P | RW | US, P | RW, 3, LIN + 0x1000, pf_error::P | pf_error::W | pf_error::U},
      {"first page not present", 0, P | RW, 0, LIN + 0xFFD, pf_error::W},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    TwoPages m(row.flags_a, row.flags_b);
    GuestLinearMemory mem(m.phys, m.pt.state(row.cpl));
    const auto before = m.phys.snapshot();
    const uint64_t v = 0x1122334455667788ull;
    const MemStatus s = mem.write(LIN + 0xFFD, &v, 8);
    REQUIRE(s.outcome == MemOutcome::page_fault);
    CHECK(s.address == row.cr2);
    CHECK(s.error_code == row.error);
    CHECK(m.phys.snapshot() == before);  // not a byte written, not an A/D bit set
  }
  // Both pages writable: the bytes land on both physical pages, D set in both leaves.
  TwoPages m;
  GuestLinearMemory mem(m.phys, m.pt.state());
  const uint64_t v = 0x1122334455667788ull;
  REQUIRE(mem.write(LIN + 0xFFD, &v, 8).ok());
  CHECK(m.phys.peek(0x20FFD, 3) == 0x667788);
  CHECK(m.phys.peek(0x9000, 5) == 0x1122334455ull);
  CHECK((m.phys.peek(m.pt.entry_gpa(LIN, 1)) & pte::D) != 0);
  CHECK((m.phys.peek(m.pt.entry_gpa(LIN + 0x1000, 1)) & pte::D) != 0);
}

TEST_CASE("Linear memory: the read of a read-modify-write is checked as a write", "[emulate][linear]") {
  TwoPages m(P | RW, P);
  GuestLinearMemory mem(m.phys, m.pt.state());
  uint64_t v = 0;
  CHECK(mem.read(LIN + 0x1000, &v, 4, AccessType::read).ok());
  const MemStatus s = mem.read(LIN + 0x1000, &v, 4, AccessType::write);
  REQUIRE(s.outcome == MemOutcome::page_fault);
  CHECK(s.error_code == (pf_error::P | pf_error::W));
}

TEST_CASE("Linear memory: a translation to non-RAM is bad_gpa, and a straddling write stops first", "[emulate][linear]") {
  FakePhys phys;
  PageTables pt(phys, Mode::level4);
  phys.map_ram(0x20000, 0x1000);
  pt.map(LIN, 0x20000, P | RW);
  pt.map(LIN + 0x1000, 0xFEE00000, P | RW);  // the local APIC page: not RAM here
  GuestLinearMemory mem(phys, pt.state());
  const auto before = phys.snapshot();
  const uint32_t v = 0xAABBCCDD;
  MemStatus s = mem.write(LIN + 0xFFE, &v, 4);
  REQUIRE(s.outcome == MemOutcome::bad_gpa);
  CHECK(s.address == 0xFEE00000);
  CHECK(phys.snapshot() == before);
  s = mem.write(LIN + 0x1010, &v, 4);
  REQUIRE(s.outcome == MemOutcome::bad_gpa);
  CHECK(s.address == 0xFEE00010);
}

TEST_CASE("Linear memory: the write observer sees GPA, old and new bytes", "[emulate][linear]") {
  TwoPages m;
  m.phys.poke64(0x20FF8, 0x0706050403020100ull);
  m.phys.poke64(0x9000, 0x0F0E0D0C0B0A0908ull);
  Recorder rec;
  GuestLinearMemory mem(m.phys, m.pt.state(), &rec);
  const uint32_t v = 0xDDCCBBAA;
  REQUIRE(mem.write(LIN + 0xFFE, &v, 4).ok());
  REQUIRE(rec.records.size() == 2);
  CHECK(rec.records[0].linear == LIN + 0xFFE);
  CHECK(rec.records[0].gpa == 0x20FFE);
  CHECK(rec.records[0].bytes == 2);
  CHECK(rec.records[0].old_bytes[0] == 0x06);
  CHECK(rec.records[0].new_bytes[1] == 0xBB);
  CHECK(rec.records[1].gpa == 0x9000);
  CHECK(rec.records[1].old_bytes[1] == 0x09);
  CHECK(rec.records[1].new_bytes[0] == 0xCC);
  // A long write is reported in pieces of at most 16 bytes.
  rec.records.clear();
  uint8_t big[40] = {};
  REQUIRE(mem.write(LIN + 0x100, big, sizeof big).ok());
  CHECK(rec.records.size() == 3);
  // compare-exchange: reported only when it stored.
  rec.records.clear();
  uint64_t seen = 0;
  REQUIRE(mem.cmpxchg(LIN + 0x200, 4, 1, 2, &seen).ok());
  CHECK(seen == 0);
  CHECK(rec.records.empty());
  REQUIRE(mem.cmpxchg(LIN + 0x200, 4, 0, 0x12345678, &seen).ok());
  CHECK(seen == 0);
  REQUIRE(rec.records.size() == 1);
  CHECK(m.phys.peek(0x20200, 4) == 0x12345678);
}

TEST_CASE("Linear memory: compare-exchange across pages", "[emulate][linear]") {
  TwoPages m;
  m.phys.poke(0x20FFE, "\x11\x22", 2);
  m.phys.poke(0x9000, "\x33\x44", 2);
  GuestLinearMemory mem(m.phys, m.pt.state());
  uint64_t seen = 0;
  REQUIRE(mem.cmpxchg(LIN + 0xFFE, 4, 0x44332211, 0xA1B2C3D4, &seen).ok());
  CHECK(seen == 0x44332211);
  CHECK(m.phys.peek(0x9000, 2) == 0xA1B2);
  REQUIRE(mem.cmpxchg(LIN + 0xFFE, 4, 0x44332211, 0, &seen).ok());
  CHECK(seen == 0xA1B2C3D4);
  CHECK(m.phys.peek(0x20FFE, 2) == 0xC3D4);
}

TEST_CASE("Linear memory: implicit supervisor accesses at CPL 3 (descriptor tables)", "[emulate][linear]") {
  FakePhys phys;
  PageTables pt(phys, Mode::level4);
  phys.map_ram(0x30000, 0x1000);
  pt.map(LIN, 0x30000, P | RW);  // a supervisor page holding the GDT
  phys.poke64(0x30008, 0x00AF9B000000FFFFull);
  GuestLinearMemory mem(phys, pt.state(3));
  uint64_t d = 0;
  CHECK(mem.read(LIN + 8, &d, 8, AccessType::read).outcome == MemOutcome::page_fault);
  REQUIRE(mem.read(LIN + 8, &d, 8, Access{AccessType::read, Privilege::implicit_supervisor}).ok());
  CHECK(d == 0x00AF9B000000FFFFull);
  // The busy-bit write of LTR is an implicit supervisor write.
  const uint8_t type = 0x8B;
  CHECK(mem.write(LIN + 13, &type, 1, Privilege::implicit_supervisor).ok());
  CHECK(phys.peek(0x3000D, 1) == 0x8B);
  // A #PF from an implicit access has U/S = 0 even at CPL 3.
  const MemStatus s = mem.read(LIN + 0x1000, &d, 8, Access{AccessType::read, Privilege::implicit_supervisor});
  REQUIRE(s.outcome == MemOutcome::page_fault);
  CHECK(s.error_code == 0);
}

TEST_CASE("Linear memory: 32-bit linear addresses wrap at 4 GiB", "[emulate][linear]") {
  FakePhys phys;
  phys.map_ram(0, 0x1000);
  phys.map_ram(0xFFFFF000, 0x1000);
  phys.poke(0xFFFFFFFE, "\xAA\xBB", 2);
  phys.poke(0, "\xCC\xDD", 2);
  GuestLinearMemory mem(phys, flat_state(decode::CpuMode::bits32));
  uint32_t v = 0;
  REQUIRE(mem.read(0xFFFFFFFE, &v, 4, AccessType::read).ok());
  CHECK(v == 0xDDCCBBAA);
}
