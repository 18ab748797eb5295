// The guest page walk, one row per case of SDM Vol 3A 4.6 (access rights), 4.7 (#PF error
// code), 4.5 (reserved bits, large pages, 5-level) and 4.3/4.4 (32-bit and PAE paging).
#include <catch.hpp>

#include "emulate_test_support.hpp"

using namespace emu_test;
using Mode = PageTables::Mode;
namespace cr0 = arch::cr0;
namespace cr4 = arch::cr4;

namespace {

constexpr uint64_t P = pte::P, RW = pte::RW, US = pte::US, XD = pte::XD;
constexpr uint32_t eP = pf_error::P, eW = pf_error::W, eU = pf_error::U, eRSVD = pf_error::RSVD,
                   eID = pf_error::ID, ePK = pf_error::PK;
constexpr uint32_t OK = 0xFFFFFFFF;  // "no fault" in the rows

struct Tweak {
  uint64_t cr0_clear = 0, cr4_set = 0, cr4_clear = 0, efer_clear = 0;
  bool ac = false;
  uint32_t pkru = 0;
  uint8_t maxphyaddr = 52;
};

struct Row {
  const char* name;
  Mode mode;
  uint64_t linear;
  uint64_t gpa;         // where the page maps (aligned to page_size)
  uint64_t page_size;
  uint64_t leaf_flags;  // with (1<<59) etc. for keys
  AccessType type;
  Privilege privilege;
  uint8_t cpl;
  Tweak tweak;
  uint32_t expect;      // OK or the #PF error code
};

constexpr AccessType R = AccessType::read, W = AccessType::write, X = AccessType::fetch;
constexpr Privilege CPL = Privilege::from_cpl, IMPL = Privilege::implicit_supervisor;
constexpr uint64_t K4 = 4096, M2 = 2ull << 20, M4 = 4ull << 20, G1 = 1ull << 30;
constexpr uint64_t LIN = 0x00007F1234567000ull;  // a 4-level user address
constexpr uint64_t LIN32 = 0x89ABC000ull;

const Row kRows[] = {
    // name                                   mode          linear        gpa           size leaf         type priv cpl tweak                        expect
    {"4L user read of a user page",           Mode::level4, LIN + 0x123,  0x5000,       K4, P | RW | US, R, CPL, 3, {},                            OK},
    {"4L not present, supervisor read",       Mode::level4, LIN,          0x5000,       K4, 0,           R, CPL, 0, {},                            0},
    {"4L not present, user write",            Mode::level4, LIN,          0x5000,       K4, 0,           W, CPL, 3, {},                            eW | eU},
    {"4L not present, user fetch (NXE: I/D)", Mode::level4, LIN,          0x5000,       K4, 0,           X, CPL, 3, {},                            eU | eID},
    {"4L fetch without NXE/SMEP: no I/D",     Mode::level4, LIN,          0x5000,       K4, 0,           X, CPL, 0, {.efer_clear = arch::efer::NXE}, 0},
    {"4L R/O supervisor page, write, WP=1",   Mode::level4, LIN,          0x5000,       K4, P,           W, CPL, 0, {},                            eP | eW},
    {"4L R/O supervisor page, write, WP=0",   Mode::level4, LIN,          0x5000,       K4, P,           W, CPL, 0, {.cr0_clear = cr0::WP},        OK},
    {"4L R/O user page, user write",          Mode::level4, LIN,          0x5000,       K4, P | US,      W, CPL, 3, {},                            eP | eW | eU},
    {"4L R/O user page, user write, WP=0",    Mode::level4, LIN,          0x5000,       K4, P | US,      W, CPL, 3, {.cr0_clear = cr0::WP},        eP | eW | eU},
    {"4L R/O user page, supervisor write WP=0",Mode::level4,LIN,          0x5000,       K4, P | US,      W, CPL, 0, {.cr0_clear = cr0::WP},        OK},
    {"4L supervisor page, user read",         Mode::level4, LIN,          0x5000,       K4, P | RW,      R, CPL, 3, {},                            eP | eU},
    {"4L supervisor page, supervisor read",   Mode::level4, LIN,          0x5000,       K4, P | RW,      R, CPL, 0, {},                            OK},
    {"4L implicit supervisor at CPL3",        Mode::level4, LIN,          0x5000,       K4, P | RW,      R, IMPL, 3, {},                           OK},
    {"4L XD page, supervisor fetch",          Mode::level4, LIN,          0x5000,       K4, P | RW | XD, X, CPL, 0, {},                            eP | eID},
    {"4L XD page, user fetch",                Mode::level4, LIN,          0x5000,       K4, P|RW|US|XD,  X, CPL, 3, {},                            eP | eU | eID},
    {"4L XD page, read",                      Mode::level4, LIN,          0x5000,       K4, P | RW | XD, R, CPL, 0, {},                            OK},
    {"4L XD set without NXE: reserved",       Mode::level4, LIN,          0x5000,       K4, P | RW | XD, R, CPL, 0, {.efer_clear = arch::efer::NXE}, eP | eRSVD},
    {"4L SMEP: supervisor fetch of user page",Mode::level4, LIN,          0x5000,       K4, P | RW | US, X, CPL, 0, {.cr4_set = cr4::SMEP},       eP | eID},
    {"4L no SMEP: supervisor fetch user page",Mode::level4, LIN,          0x5000,       K4, P | RW | US, X, CPL, 0, {},                            OK},
    {"4L SMEP: user fetch of user page",      Mode::level4, LIN,          0x5000,       K4, P | RW | US, X, CPL, 3, {.cr4_set = cr4::SMEP},       OK},
    {"4L SMAP AC=0: supervisor read user pg", Mode::level4, LIN,          0x5000,       K4, P | RW | US, R, CPL, 0, {.cr4_set = cr4::SMAP},       eP},
    {"4L SMAP AC=1: supervisor read user pg", Mode::level4, LIN,          0x5000,       K4, P | RW | US, R, CPL, 0, {.cr4_set = cr4::SMAP, .ac = true}, OK},
    {"4L SMAP AC=1: supervisor write user pg",Mode::level4, LIN,          0x5000,       K4, P | RW | US, W, CPL, 0, {.cr4_set = cr4::SMAP, .ac = true}, OK},
    {"4L SMAP AC=0: supervisor write user pg",Mode::level4, LIN,          0x5000,       K4, P | RW | US, W, CPL, 0, {.cr4_set = cr4::SMAP},       eP | eW},
    {"4L SMAP AC=1 but implicit access",      Mode::level4, LIN,          0x5000,       K4, P | RW | US, R, IMPL, 3, {.cr4_set = cr4::SMAP, .ac = true}, eP},
    {"4L SMAP: user access unaffected",       Mode::level4, LIN,          0x5000,       K4, P | RW | US, W, CPL, 3, {.cr4_set = cr4::SMAP},       OK},
    {"4L 2 MiB page",                         Mode::level4, 0x40212345,   0x80000000,   M2, P | RW,      R, CPL, 0, {},                            OK},
    {"4L 1 GiB page",                         Mode::level4, 0x7F8123456789ull, 0x1C0000000ull, G1, P | RW, W, CPL, 0, {},                      OK},
    {"4L 2 MiB page, bit 13 set: reserved",   Mode::level4, 0x40212345,   0x80002000,   M2, P | RW,      R, CPL, 0, {},                            eP | eRSVD},
    {"4L 1 GiB page, bit 29 set: reserved",   Mode::level4, 0x40212345,   0x60000000,   G1, P | RW,      W, CPL, 0, {},                            eP | eW | eRSVD},
    {"4L address above MAXPHYADDR: reserved", Mode::level4, LIN,          1ull << 45,   K4, P | RW,      R, CPL, 0, {.maxphyaddr = 40},            eP | eRSVD},
    {"4L address below MAXPHYADDR",           Mode::level4, LIN,          1ull << 38,   K4, P | RW,      R, CPL, 0, {.maxphyaddr = 40},            OK},
    {"4L PKRU AD, user read",                 Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), R, CPL, 3, {.cr4_set = cr4::PKE, .pkru = 1u << 2}, eP | eU | ePK},
    {"4L PKRU WD, user write",                Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), W, CPL, 3, {.cr4_set = cr4::PKE, .pkru = 2u << 2}, eP | eW | eU | ePK},
    {"4L PKRU WD, user read",                 Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), R, CPL, 3, {.cr4_set = cr4::PKE, .pkru = 2u << 2}, OK},
    {"4L PKRU WD, supervisor write, WP=1",    Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), W, CPL, 0, {.cr4_set = cr4::PKE, .pkru = 2u << 2}, eP | eW | ePK},
    {"4L PKRU WD, supervisor write, WP=0",    Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), W, CPL, 0, {.cr0_clear = cr0::WP, .cr4_set = cr4::PKE, .pkru = 2u << 2}, OK},
    {"4L PKRU other key",                     Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), R, CPL, 3, {.cr4_set = cr4::PKE, .pkru = 3u << 4}, OK},
    {"4L PKRU AD, fetch not affected",        Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), X, CPL, 3, {.cr4_set = cr4::PKE, .pkru = 1u << 2}, OK},
    {"4L PKE off: keys ignored",              Mode::level4, LIN,          0x5000,       K4, P|RW|US|(1ull << 59), R, CPL, 3, {.pkru = 1u << 2}, OK},
    {"5L user read above 2^47",               Mode::level5, 0x00FF123456789000ull, 0x5000, K4, P | RW | US, R, CPL, 3, {},                     OK},
    {"5L not present",                        Mode::level5, 0x00FF123456789000ull, 0x5000, K4, 0,         W, CPL, 0, {},                            eW},
    {"5L 2 MiB page",                         Mode::level5, 0x0100000000212345ull, 0x80000000, M2, P | RW, R, CPL, 0, {},                       OK},
    {"PAE 4K",                                Mode::pae,    LIN32 + 0x10, 0x7000,       K4, P | RW | US, W, CPL, 3, {},                            OK},
    {"PAE 2 MiB",                             Mode::pae,    0xC0212345,   0x00400000,   M2, P | RW,      R, CPL, 0, {},                            OK},
    {"PAE not present",                       Mode::pae,    LIN32,        0x7000,       K4, 0,           R, CPL, 3, {},                            eU},
    {"PAE XD, fetch",                         Mode::pae,    LIN32,        0x7000,       K4, P | XD,      X, CPL, 0, {},                            eP | eID},
    {"PAE R/O, supervisor write WP=1",        Mode::pae,    LIN32,        0x7000,       K4, P,           W, CPL, 0, {},                            eP | eW},
    {"32-bit 4K",                             Mode::bits32, LIN32 + 0x20, 0x9000,       K4, P | RW | US, W, CPL, 3, {},                            OK},
    {"32-bit 4 MiB",                          Mode::bits32, 0x00C12345,   0x00800000,   M4, P | RW,      R, CPL, 0, {},                            OK},
    {"32-bit 4 MiB above 4 GiB (PSE-36)",     Mode::bits32, 0x00C12345,   0x300800000ull, M4, P | RW,    R, CPL, 0, {},                            OK},
    {"32-bit 4 MiB PSE-36 beyond MAXPHYADDR", Mode::bits32, 0x00C12345,   0x3000800000ull, M4, P | RW,   R, CPL, 0, {.maxphyaddr = 36},            eP | eRSVD},
    {"32-bit not present, fetch: no I/D",     Mode::bits32, LIN32,        0x9000,       K4, 0,           X, CPL, 0, {},                            0},
    {"32-bit not present, fetch, SMEP: I/D",  Mode::bits32, LIN32,        0x9000,       K4, 0,           X, CPL, 0, {.cr4_set = cr4::SMEP},       eID},
    {"32-bit user write to R/O",              Mode::bits32, LIN32,        0x9000,       K4, P | US,      W, CPL, 3, {},                            eP | eW | eU},
    {"32-bit SMAP",                           Mode::bits32, LIN32,        0x9000,       K4, P | RW | US, R, CPL, 0, {.cr4_set = cr4::SMAP},       eP},
};

}  // namespace

TEST_CASE("Page walk: access rights and #PF error codes (SDM Vol 3A 4.6, 4.7)", "[emulate][paging]") {
  for (const Row& row : kRows) {
    INFO(row.name);
    FakePhys phys;
    PageTables pt(phys, row.mode, 0x100000);
    pt.map(row.linear, row.gpa, row.leaf_flags, row.page_size);
    PagingState s = pt.state(row.cpl);
    s.cr0 &= ~row.tweak.cr0_clear;
    s.cr4 = (s.cr4 | row.tweak.cr4_set) & ~row.tweak.cr4_clear;
    s.efer &= ~row.tweak.efer_clear;
    s.rflags_ac = row.tweak.ac;
    s.pkru = row.tweak.pkru;
    s.maxphyaddr = row.tweak.maxphyaddr;
    const Translation t = translate(phys, row.linear, Access{row.type, row.privilege}, s);
    if (row.expect == OK) {
      REQUIRE(t.status == WalkStatus::ok);
      CHECK(t.page_size == row.page_size);
      CHECK(t.gpa == ((row.gpa & ~(row.page_size - 1)) | (row.linear & (row.page_size - 1))));
    } else {
      REQUIRE(t.status == WalkStatus::page_fault);
      CHECK(t.error_code == row.expect);
    }
  }
}

TEST_CASE("Page walk: paging modes (SDM Vol 3A 4.1.1 Table 4-1)", "[emulate][paging]") {
  PagingState s;
  CHECK(paging_mode(s) == PagingMode::none);
  s.cr0 = cr0::PG | cr0::PE;
  CHECK(paging_mode(s) == PagingMode::bits32);
  s.cr4 = cr4::PAE;
  CHECK(paging_mode(s) == PagingMode::pae);
  s.efer = arch::efer::LMA;
  CHECK(paging_mode(s) == PagingMode::level4);
  s.cr4 |= cr4::LA57;
  CHECK(paging_mode(s) == PagingMode::level5);
  CHECK(std::string(paging_mode_name(PagingMode::level5)) == "5-level");

  // Paging off: identity, 32-bit linear addresses outside IA-32e mode.
  FakePhys phys;
  PagingState off;
  Translation t = translate(phys, 0x123456789ull, Access{}, off);
  REQUIRE(t.ok());
  CHECK(t.gpa == 0x23456789ull);
  off.efer = arch::efer::LMA;
  CHECK(translate(phys, 0x123456789ull, Access{}, off).gpa == 0x123456789ull);
  CHECK(phys.reads == 0);
}

TEST_CASE("Page walk: reserved bits in the upper levels", "[emulate][paging]") {
  FakePhys phys;
  PageTables pt(phys, Mode::level4);
  pt.map(LIN, 0x5000, P | RW);
  const PagingState s = pt.state();
  // PS in a PML4E is reserved.
  const uint64_t pml4e = pt.entry_gpa(LIN, 4);
  phys.poke64(pml4e, phys.peek(pml4e) | pte::PS);
  Translation t = translate(phys, LIN, Access{AccessType::write}, s);
  REQUIRE(t.status == WalkStatus::page_fault);
  CHECK(t.error_code == (eP | eW | eRSVD));
  // A reserved bit in an upper level wins over "not present" below it (the walk stops there).
  phys.poke64(pt.entry_gpa(LIN, 1), 0);
  CHECK(translate(phys, LIN, Access{}, s).error_code == (eP | eRSVD));

  // PAE PDPTE: reserved bits 2:1 → RSVD; taken from the PDPTE registers when given.
  FakePhys p2;
  PageTables pae(p2, Mode::pae);
  pae.map(LIN32, 0x7000, P | RW);
  PagingState ps = pae.state();
  const uint64_t pdpte_gpa = pae.entry_gpa(LIN32, 3);
  const uint64_t good = p2.peek(pdpte_gpa);
  p2.poke64(pdpte_gpa, good | RW);
  CHECK(translate(p2, LIN32, Access{}, ps).error_code == (eP | eRSVD));
  ps.pdptes_valid = true;
  ps.pdpte[(LIN32 >> 30) & 3] = good;  // the registers still hold the value loaded at MOV CR3
  CHECK(translate(p2, LIN32, Access{}, ps).ok());
  ps.pdpte[(LIN32 >> 30) & 3] = 0;
  CHECK(translate(p2, LIN32, Access{}, ps).error_code == 0);
}

TEST_CASE("Page walk: accessed and dirty bits (SDM Vol 3A 4.8)", "[emulate][paging]") {
  for (Mode mode : {Mode::level4, Mode::level5, Mode::pae, Mode::bits32}) {
    const uint64_t lin = (mode == Mode::level4 || mode == Mode::level5) ? LIN : LIN32;
    const unsigned top = mode == Mode::level5 ? 5 : mode == Mode::level4 ? 4 : 2;  // PAE: PDPTEs are not updated
    const unsigned esize = mode == Mode::bits32 ? 4 : 8;
    INFO("mode " << static_cast<int>(mode));
    FakePhys phys;
    PageTables pt(phys, mode);
    pt.map(lin, 0x5000, P | RW | US);
    const PagingState s = pt.state();
    // A read sets A everywhere and no D.
    REQUIRE(translate(phys, lin, Access{AccessType::read}, s).ok());
    for (unsigned l = 1; l <= top; ++l) {
      const uint64_t e = phys.peek(pt.entry_gpa(lin, l), esize);
      CHECK((e & pte::A) != 0);
      CHECK((e & pte::D) == 0);
    }
    if (mode == Mode::pae) CHECK((phys.peek(pt.entry_gpa(lin, 3)) & pte::A) == 0);
    // A write sets D in the leaf only.
    REQUIRE(translate(phys, lin, Access{AccessType::write}, s).ok());
    CHECK((phys.peek(pt.entry_gpa(lin, 1), esize) & pte::D) != 0);
    CHECK((phys.peek(pt.entry_gpa(lin, 2), esize) & pte::D) == 0);
    // Nothing to update any more: no compare-exchange.
    const unsigned before = phys.cmpxchgs;
    REQUIRE(translate(phys, lin, Access{AccessType::write}, s).ok());
    CHECK(phys.cmpxchgs == before);
  }
  // A faulting access changes nothing; set_accessed_dirty=false never writes.
  FakePhys phys;
  PageTables pt(phys, Mode::level4);
  pt.map(LIN, 0x5000, P | US);
  PagingState s = pt.state(3);
  const auto snap = phys.snapshot();
  CHECK(translate(phys, LIN, Access{AccessType::write}, s).status == WalkStatus::page_fault);
  CHECK(phys.snapshot() == snap);
  s.set_accessed_dirty = false;
  CHECK(translate(phys, LIN, Access{AccessType::read}, s).ok());
  CHECK(phys.snapshot() == snap);
}

TEST_CASE("Page walk: entries changing under the walk, tables outside RAM", "[emulate][paging]") {
  FakePhys phys;
  PageTables pt(phys, Mode::level4);
  pt.map(LIN, 0x5000, P | RW);
  const PagingState s = pt.state();
  // Another CPU sets A in the PML4E first: the commit sees a change and walks again.
  static int calls;
  calls = 0;
  phys.interfere = [](FakePhys& p, uint64_t gpa) {
    if (calls++ == 0) p.poke64(gpa, p.peek(gpa) | pte::A);
  };
  Translation t = translate(phys, LIN, Access{AccessType::write}, s);
  REQUIRE(t.ok());
  CHECK(t.gpa == 0x5000);
  CHECK(calls > 1);
  // An entry that changes on every attempt: give up with retry.
  phys.interfere = [](FakePhys& p, uint64_t gpa) { p.poke64(gpa, p.peek(gpa) ^ (1ull << 9)); };
  phys.poke64(pt.entry_gpa(LIN, 1), 0x5000 | P | RW);
  CHECK(translate(phys, LIN, Access{AccessType::write}, s).status == WalkStatus::retry);
  phys.interfere = nullptr;

  // A PDPTE that points outside RAM: bad_gpa with the table's address.
  const uint64_t pdpte = pt.entry_gpa(LIN, 3);
  phys.poke64(pdpte, 0x7770000000ull | P | RW);
  t = translate(phys, LIN, Access{}, s);
  REQUIRE(t.status == WalkStatus::bad_gpa);
  CHECK((t.gpa & ~0xFFFull) == 0x7770000000ull);
}
