// REX2 operands: payload fields, 5-bit register numbers in every field, the SIB/base special
// cases of spec §1.1, byte registers (§1.5), prefixes before REX2, PUSHP/POPP, lengths.
#include <catch.hpp>

#include "decode/rex2.hpp"
#include "decode_test_util.hpp"

using decode::Fault;
using decode::OperandKind;
using decode::RegClass;
using decode_test::Bytes;
using decode_test::dec;
using decode_test::memory_of;
using decode_test::text;

TEST_CASE("REX2 payload: M0 R4 X4 B4 W R3 X3 B3 (spec §1.1)", "[decode][rex2]") {
  for (unsigned p = 0; p < 256; ++p) {
    const decode::Rex2 r = decode::parse_rex2_payload(static_cast<uint8_t>(p));
    const unsigned back = (r.m0 << 7) | (r.r4 << 6) | (r.x4 << 5) | (r.b4 << 4) | (r.w << 3) | (r.r3 << 2) |
                          (r.x3 << 1) | r.b3;
    CHECK(back == p);
    CHECK(r.payload == p);
  }
  const decode::Instruction insn = dec({0xD5, 0xD5 & 0x7F, 0x89, 0xC0});  // payload 0x55
  REQUIRE(insn.ok());
  CHECK(insn.rex2.present);
  CHECK(insn.rex2.r4 == 1);
  CHECK(insn.rex2.x4 == 0);
  CHECK(insn.rex2.b4 == 1);
  CHECK(insn.rex2.w == 0);
  CHECK(insn.rex2.r3 == 1);
  CHECK(insn.rex2.b3 == 1);
}

TEST_CASE("Every GPR field reaches R0-R31", "[decode][rex2][registers]") {
  // mov r/m64, r64 (89 /r), register form: reg = R4:R3:reg, rm = B4:B3:rm.
  for (unsigned reg = 0; reg < 32; ++reg) {
    for (unsigned rm = 0; rm < 32; rm += 5) {
      const uint8_t payload = static_cast<uint8_t>(((reg >> 4) << 6) | ((rm >> 4) << 4) | 0x08 | (((reg >> 3) & 1) << 2) |
                                                   ((rm >> 3) & 1));
      const uint8_t modrm = static_cast<uint8_t>(0xC0 | ((reg & 7) << 3) | (rm & 7));
      const decode::Instruction insn = dec({0xD5, payload, 0x89, modrm});
      REQUIRE(insn.ok());
      REQUIRE(insn.operand_count >= 2);
      CHECK(insn.operands[0].reg.num == rm);
      CHECK(insn.operands[1].reg.num == reg);
      CHECK(insn.operands[0].reg.bits == 64);
    }
  }
  // [base + index*4]: base = B4:B3:SIB.base, index = X4:X3:SIB.index.
  for (unsigned base = 0; base < 32; ++base) {
    for (unsigned index = 0; index < 32; ++index) {
      if ((base & 7) == 5) continue;  // mod=00 base 101 is the disp32 form (tested below)
      const uint8_t payload = static_cast<uint8_t>(((index >> 4) << 5) | ((base >> 4) << 4) | (((index >> 3) & 1) << 1) |
                                                   ((base >> 3) & 1));
      const uint8_t sib = static_cast<uint8_t>(0x80 | ((index & 7) << 3) | (base & 7));
      const decode::Instruction insn = dec({0xD5, payload, 0x8B, 0x04, sib});
      REQUIRE(insn.ok());
      const decode::Mem* m = memory_of(insn);
      REQUIRE(m);
      CHECK(m->base.num == base);
      if (index == 4) {
        CHECK_FALSE(m->index.present());  // only 00100 means "no index"
      } else {
        CHECK(m->index.num == index);
        CHECK(m->scale == 4);
      }
    }
  }
}

struct SibCase {
  const char* what;
  Bytes bytes;
  const char* text;
  unsigned length;
};

TEST_CASE("SIB and base special cases (spec §1.1)", "[decode][rex2][sib]") {
  const SibCase cases[] = {
      {"index 100 with X4=1 is R20", {0xD5, 0x20, 0x8D, 0x04, 0x25, 0, 0, 0, 0}, "lea eax, [1*r20]", 9},
      {"index 100 with X3=1 is R12", {0xD5, 0x02, 0x8D, 0x04, 0x20}, "lea eax, [rax + r12]", 5},
      {"index 100 with X4=X3=1 is R28", {0xD5, 0x22, 0x8D, 0x04, 0x20}, "lea eax, [rax + r28]", 5},
      {"index 100 with X4=X3=0 is no index", {0xD5, 0x10, 0x8D, 0x04, 0x20}, "lea eax, [r16 + riz]", 5},
      {"rm 100 with B4=1 still needs a SIB: base R20", {0xD5, 0x10, 0x8D, 0x04, 0x24}, "lea eax, [r20 + riz]", 5},
      {"SIB base 101, mod 00, B4=1 is still disp32", {0xD5, 0x10, 0x8D, 0x04, 0x25, 0x10, 0, 0, 0}, "lea eax, [16]", 9},
      {"SIB base 101, mod 01, B4=1 is R21", {0xD5, 0x10, 0x8D, 0x44, 0x25, 0x08}, "lea eax, [r21 + riz + 8]", 6},
      {"rm 101, mod 00, B4=1 is still RIP-relative", {0xD5, 0x10, 0x8D, 0x05, 0x10, 0, 0, 0}, "lea eax, [rip + 16]", 8},
      {"rm 101, mod 01, B4=1 is R21", {0xD5, 0x10, 0x8D, 0x45, 0x00}, "lea eax, [r21]", 5},
      {"rm 101, mod 01, B4=B3=1 is R29", {0xD5, 0x11, 0x8D, 0x45, 0x00}, "lea eax, [r29]", 5},
      {"negative displacement", {0xD5, 0x10, 0x8B, 0x40, 0xF8}, "mov eax, dword ptr [r16 - 8]", 5},
      {"67: 32-bit address registers", {0x67, 0xD5, 0x10, 0x8B, 0x00}, "mov eax, dword ptr [r16d]", 5},
      {"67: RIP becomes EIP", {0x67, 0xD5, 0x10, 0x8B, 0x05, 0x10, 0, 0, 0}, "mov eax, dword ptr [eip + 16]", 9},
  };
  for (const SibCase& c : cases) {
    INFO(c.what);
    const decode::Instruction insn = dec(c.bytes);
    REQUIRE(insn.ok());
    CHECK(text(insn) == c.text);
    CHECK(insn.length == c.length);
  }
  // RIP-relative and disp32 forms report no base register to the emulator.
  const decode::Instruction rip = dec({0xD5, 0x10, 0x8D, 0x05, 0x10, 0, 0, 0});
  REQUIRE(memory_of(rip));
  CHECK(memory_of(rip)->rip_relative());
  const decode::Instruction abs = dec({0xD5, 0x10, 0x8D, 0x04, 0x25, 0x10, 0, 0, 0});
  REQUIRE(memory_of(abs));
  CHECK_FALSE(memory_of(abs)->base.present());
  CHECK(memory_of(abs)->disp == 16);
}

TEST_CASE("EGPR bases default to DS, RSP/RBP to SS (SDM Vol. 1 §3.7.4)", "[decode][rex2][segment]") {
  const decode::Mem* m20 = memory_of(dec({0xD5, 0x10, 0x8B, 0x04, 0x24}));  // [r20]
  REQUIRE(m20);
  CHECK(decode_test::reg_name(m20->segment) == "ds");
  const decode::Mem* rsp = memory_of(dec({0xD5, 0x00, 0x8B, 0x04, 0x24}));  // [rsp]
  REQUIRE(rsp);
  CHECK(decode_test::reg_name(rsp->segment) == "ss");
  const decode::Mem* fs = memory_of(dec({0x64, 0xD5, 0x18, 0x8B, 0x00}));  // fs:[r16]
  REQUIRE(fs);
  CHECK(decode_test::reg_name(fs->segment) == "fs");
  CHECK(fs->segment_override);
  CHECK(text({0x64, 0xD5, 0x18, 0x8B, 0x00}) == "mov rax, qword ptr fs:[r16]");
}

TEST_CASE("Byte registers: SPL..DIL under REX/REX2, AH..BH without (spec §1.5)", "[decode][registers][byte]") {
  // mov r/m8, r8 (88 /r), reg = 4..7
  for (unsigned r = 4; r < 8; ++r) {
    const uint8_t modrm = static_cast<uint8_t>(0xC0 | (r << 3));
    const decode::Instruction legacy = dec({0x88, modrm});
    REQUIRE(legacy.ok());
    CHECK(legacy.operands[1].reg.high8);
    CHECK(legacy.operands[1].reg.num == r - 4);
    const decode::Instruction rex = dec({0x40, 0x88, modrm});
    REQUIRE(rex.ok());
    CHECK_FALSE(rex.operands[1].reg.high8);
    CHECK(rex.operands[1].reg.num == r);
    const decode::Instruction rex2 = dec({0xD5, 0x00, 0x88, modrm});
    REQUIRE(rex2.ok());
    CHECK_FALSE(rex2.operands[1].reg.high8);
    CHECK(rex2.operands[1].reg.num == r);
  }
  CHECK(text({0x88, 0xE0}) == "mov al, ah");
  CHECK(text({0x40, 0x88, 0xE0}) == "mov al, spl");
  CHECK(text({0xD5, 0x00, 0x88, 0xE0}) == "mov al, spl");
  CHECK(text({0xD5, 0x12, 0x88, 0x2C, 0x30}) == "mov byte ptr [r16 + r14], bpl");
  CHECK(text({0xD5, 0x51, 0x88, 0xC0}) == "mov r24b, r16b");
  CHECK(text({0xD5, 0x90, 0x94, 0xC0}) == "sete r16b");
}

TEST_CASE("Legacy prefixes before REX2 (spec §1.2)", "[decode][rex2][prefix]") {
  const SibCase cases[] = {
      {"66: 16-bit operand", {0x66, 0xD5, 0x10, 0xB8, 0xD2, 0x04}, "mov r16w, 1234", 6},
      {"F3 as mandatory prefix", {0xF3, 0xD5, 0xD0, 0xB8, 0xC8}, "popcnt r17d, r16d", 5},
      {"66 F3 with the mandatory prefix", {0x66, 0xF3, 0xD5, 0xD1, 0xB8, 0xF5}, "popcnt r22w, r29w", 6},
      {"F2 as mandatory prefix (map 1)", {0xF2, 0xD5, 0x98, 0x2A, 0xC8}, "cvtsi2sd xmm1, r16", 5},
      {"F0 lock", {0xF0, 0xD5, 0x6E, 0x01, 0x0C, 0x08}, "lock add qword ptr [rax + r25], r25", 6},
      {"64 fs", {0x64, 0xD5, 0x18, 0x8B, 0x00}, "mov rax, qword ptr fs:[r16]", 5},
      {"65 gs", {0x65, 0xD5, 0x10, 0x89, 0x04, 0x24}, "mov dword ptr gs:[r20 + riz], eax", 6},
      {"67 without a memory operand", {0x67, 0xD5, 0x10, 0xB8, 1, 0, 0, 0}, "addr32 mov r16d, 1", 8},
      {"F3 on a one-byte opcode", {0xF3, 0xD5, 0x10, 0x89, 0x18}, "rep mov dword ptr [r16], ebx", 5},
  };
  for (const SibCase& c : cases) {
    INFO(c.what);
    const decode::Instruction insn = dec(c.bytes);
    REQUIRE(insn.ok());
    CHECK(text(insn) == c.text);
    CHECK(insn.length == c.length);
  }
  const decode::Instruction lock = dec({0xF0, 0xD5, 0x6E, 0x01, 0x0C, 0x08});
  CHECK(lock.prefixes.lock);
  CHECK(lock.prefixes.count == 1);
  CHECK(dec({0xF0, 0xD5, 0x10, 0x89, 0xC0}).reason == decode::Reason::illegal_lock);  // lock mov reg
}

TEST_CASE("Opcode-register forms use B4:B3:opcode[2:0]", "[decode][rex2][registers]") {
  CHECK(text({0xD5, 0x10, 0x50}) == "push r16");
  CHECK(text({0xD5, 0x11, 0x57}) == "push r31");
  CHECK(text({0xD5, 0x10, 0x5B}) == "pop r19");
  CHECK(text({0xD5, 0x90, 0xC8}) == "bswap r16d");
  CHECK(text({0xD5, 0x99, 0xCF}) == "bswap r31");
  CHECK(text({0xD5, 0x18, 0xB8, 1, 0, 0, 0, 0, 0, 0, 0}) == "movabs r16, 1");
  CHECK(text({0xD5, 0x11, 0xB0, 0x7F}) == "mov r24b, 127");
  // 90+r with B4: the register is R16-R23, so this is XCHG, not NOP.
  CHECK(text({0xD5, 0x18, 0x90}) == "xchg rax, r16");
  CHECK(text({0xD5, 0x00, 0x90}) == "nop");
  CHECK(text({0xD5, 0x19, 0x93}) == "xchg rax, r27");
}

TEST_CASE("PUSHP/POPP: REX2.W=1 on 50+r/58+r (spec §1.4)", "[decode][rex2][ppx]") {
  const decode::Instruction pushp = dec({0xD5, 0x18, 0x50});
  REQUIRE(pushp.ok());
  CHECK(pushp.mnemonic == decode::Mnemonic::pushp);
  CHECK(pushp.length == 3);
  CHECK(text(pushp) == "pushp r16");
  CHECK(text({0xD5, 0x08, 0x5B}) == "popp rbx");
  CHECK(text({0xD5, 0x19, 0x5F}) == "popp r31");
  const decode::Instruction push = dec({0xD5, 0x10, 0x50});
  CHECK(push.mnemonic == decode::zy(ZYDIS_MNEMONIC_PUSH));
  CHECK(text(push) == "push r16");
  // The pushed register is a 64-bit GPR the emulator can index directly.
  REQUIRE(pushp.operand_count >= 1);
  CHECK(pushp.operands[0].reg.num == 16);
  CHECK(pushp.operands[0].reg.bits == 64);
}

TEST_CASE("Non-GPR registers ignore R4/B4; W is ignored on byte operations", "[decode][rex2][registers]") {
  CHECK(text({0xD5, 0xC0, 0x58, 0xC0}) == "addps xmm0, xmm0");  // R4 on xmm: ignored
  CHECK(text({0xD5, 0xC4, 0x58, 0xC0}) == "addps xmm8, xmm0");  // R3 still counts
  CHECK(text({0xD5, 0x40, 0x8C, 0xD8}) == "mov eax, ds");       // R4 on a segment register
  CHECK(text({0xD5, 0x18, 0x80, 0xD0, 0x7B}) == "adc r16b, 123");
  CHECK(text({0xD5, 0x11, 0xDD, 0x00}) == "fld qword ptr [r24]");
  CHECK(text({0xD5, 0x90, 0x20, 0xC0}) == "mov r16, cr0");      // B4 on the GPR side is fine
}

TEST_CASE("Truncated and over-long REX2 instructions", "[decode][rex2][length]") {
  const Bytes full = {0xF0, 0xD5, 0x6E, 0x01, 0x8C, 0x08, 0x78, 0x56, 0x34, 0x12};
  REQUIRE(dec(full).ok());
  REQUIRE(dec(full).length == full.size());
  for (size_t n = 1; n < full.size(); ++n) {
    const Bytes part(full.begin(), full.begin() + static_cast<long>(n));
    INFO("first " << n << " bytes");
    CHECK(dec(part).fault == Fault::truncated);
  }
  // 13 prefixes + D5 payload + opcode = 16 bytes: #GP.
  Bytes long_one(13, 0x66);
  long_one.insert(long_one.end(), {0xD5, 0x10, 0x50});
  CHECK(dec(long_one).fault == Fault::gp);
  // 12 prefixes: exactly 15 bytes, fine.
  Bytes ok(12, 0x66);
  ok.insert(ok.end(), {0xD5, 0x10, 0x50});
  CHECK(dec(ok).ok());
  CHECK(dec(ok).length == 15);
  // Empty input.
  CHECK(dec(Bytes{}).fault == Fault::truncated);
}
