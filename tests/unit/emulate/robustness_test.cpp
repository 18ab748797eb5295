// Property test: random instruction bytes (biased towards the emulated opcodes, with random
// prefixes, ModRM/SIB/displacements, register values, segments and flags) in every mode.
// emulate() must return one of its outcomes without crashing, and whenever it does not
// return ok nothing may have changed — no register, no flag, no RIP, no byte of memory —
// except the completed iterations of a REP string instruction.
#include <catch.hpp>

#include <random>

#include "emulate_test_support.hpp"

using namespace emu_test;
using decode::CpuMode;
using emu::Outcome;

namespace {

const uint8_t kPrefixes[] = {0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x40, 0x48, 0x41, 0x4C, 0x44};
const uint8_t kOpcodes[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0A, 0x0B, 0x10, 0x11, 0x12, 0x13, 0x18,
                            0x19, 0x1A, 0x1B, 0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2A, 0x2B, 0x30, 0x31, 0x32, 0x33,
                            0x38, 0x39, 0x3A, 0x3B, 0x40, 0x47, 0x48, 0x4F, 0x63, 0x80, 0x81, 0x83, 0x84, 0x85, 0x86,
                            0x87, 0x88, 0x89, 0x8A, 0x8B, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xAA, 0xAB, 0xC6, 0xC7,
                            0xF6, 0xF7, 0xFE, 0xFF};
const uint8_t kOpcodes0F[] = {0x40, 0x45, 0x4F, 0x90, 0x94, 0x9F, 0xA3, 0xAB, 0xB3, 0xBA, 0xBB, 0xB6, 0xB7, 0xBE, 0xBF};
const uint32_t kAccessRights[] = {0xC093, 0x0093, 0xC091, 0xC097, 0x4097, 0xC09B, 0xC099, 0x10000, 0x93, 0xC0F3};

struct Rng {
  std::mt19937_64 g{0xE3017A7E};
  uint64_t operator()() { return g(); }
  unsigned below(unsigned n) { return static_cast<unsigned>(g() % n); }
  bool chance(unsigned pct) { return below(100) < pct; }
};

Bytes random_instruction(Rng& r, CpuMode mode) {
  Bytes b;
  const unsigned np = r.below(4);
  for (unsigned i = 0; i < np; ++i) {
    uint8_t p = kPrefixes[r.below(sizeof kPrefixes)];
    if (mode != CpuMode::bits64 && p >= 0x40 && p <= 0x4F) continue;
    b.push_back(p);
  }
  if (mode == CpuMode::bits64 && r.chance(15)) {  // REX2
    b.push_back(0xD5);
    b.push_back(static_cast<uint8_t>(r()));
    b.push_back(kOpcodes0F[r.below(sizeof kOpcodes0F)]);
  } else if (r.chance(25)) {
    b.push_back(0x0F);
    b.push_back(kOpcodes0F[r.below(sizeof kOpcodes0F)]);
  } else if (r.chance(90)) {
    b.push_back(kOpcodes[r.below(sizeof kOpcodes)]);
  } else {
    b.push_back(static_cast<uint8_t>(r()));
  }
  while (b.size() < 15) b.push_back(static_cast<uint8_t>(r()));
  return b;
}

uint64_t random_register(Rng& r) {
  switch (r.below(5)) {
    case 0: return r();
    case 1: return r.below(0x40000);
    case 2: return r.below(16);
    case 3: return 0x0000800000000000ull - r.below(16);
    default: return ~0ull - r.below(0x1000);
  }
}

}  // namespace

TEST_CASE("emulate: random instructions never crash and never half-apply", "[emulate][robustness]") {
  Rng r;
  for (CpuMode mode : {CpuMode::bits64, CpuMode::bits32, CpuMode::bits16}) {
    unsigned counts[5] = {};
    FakePhys phys;
    phys.map_ram(0, 0x40000);
    GuestLinearMemory mem(phys, flat_state(mode));
    uint64_t gpr[32];
    for (unsigned iter = 0; iter < 20000; ++iter) {
      emu::EmuContext ctx;
      ctx.gpr = gpr;
      ctx.mem = &mem;
      ctx.mode = mode;
      ctx.rip = r.below(0x40000);
      ctx.rflags = 0x2 | (r() & 0xCD5) | (r.chance(5) ? arch::rflags::AC | arch::rflags::TF : 0);
      ctx.cpl = static_cast<uint8_t>(r.below(4));
      ctx.cr0_am = r.chance(20);
      ctx.la57 = r.chance(20);
      ctx.real_or_v86 = mode == CpuMode::bits16 && r.chance(50);
      ctx.rep_budget = r.chance(50) ? 0 : r.below(64);
      for (auto& s : ctx.seg) {
        s.base = r.chance(70) ? 0 : (r.chance(50) ? r.below(0x40000) : r());
        s.limit = r.chance(60) ? 0xFFFFFFFF : static_cast<uint32_t>(r());
        s.access_rights = kAccessRights[r.below(sizeof kAccessRights / sizeof kAccessRights[0])];
      }
      for (auto& g : gpr) g = random_register(r);
      gpr[1] &= r.chance(80) ? 0xFF : ~0ull;  // mostly short REP counts
      uint64_t before[32];
      memcpy(before, gpr, sizeof gpr);
      const uint64_t flags = ctx.rflags, rip = ctx.rip;
      const unsigned mutations = phys.mutations;

      const Bytes code = random_instruction(r, mode);
      decode::Instruction insn;
      const emu::Result res = run(code, ctx, r.chance(90), &insn);
      const unsigned o = static_cast<unsigned>(res.outcome);
      REQUIRE(o < 5);
      ++counts[o];
      const bool string = insn.ok() && insn.map == 0 && insn.encoding == decode::Encoding::legacy &&
                          (insn.opcode == 0xA4 || insn.opcode == 0xA5 || insn.opcode == 0xAA || insn.opcode == 0xAB);
      if (res.outcome == Outcome::ok) {
        if (res.completed) {
          const uint64_t m = mode == CpuMode::bits64 ? ~0ull : mode == CpuMode::bits32 ? 0xFFFFFFFFull : 0xFFFFull;
          CHECK(ctx.rip == ((rip + insn.length) & m));
        } else {
          CHECK(string);
          CHECK(ctx.rip == rip);
        }
        continue;
      }
      if (res.outcome == Outcome::fault) {
        const uint8_t v = res.exception.vector;
        CHECK((v == emu::vector::UD || v == emu::vector::GP || v == emu::vector::SS || v == emu::vector::PF ||
               v == emu::vector::AC));
      }
      CHECK(ctx.rip == rip);
      if (string) continue;
      INFO("mode " << int(mode) << " bytes " << [&] {
        std::string s;
        for (unsigned i = 0; i < insn.length && i < code.size(); ++i) s += std::to_string(code[i]) + " ";
        return s;
      }());
      CHECK(ctx.rflags == flags);
      CHECK(memcmp(before, gpr, sizeof gpr) == 0);
      CHECK(phys.mutations == mutations);
    }
    INFO("mode " << int(mode) << ": ok " << counts[0] << ", fault " << counts[1] << ", unsupported " << counts[2]
                 << ", bad_gpa " << counts[3] << ", retry " << counts[4]);
    CHECK(counts[static_cast<unsigned>(Outcome::ok)] > 1000);     // the generator reaches real work
    CHECK(counts[static_cast<unsigned>(Outcome::fault)] > 100);
  }
}
