// REX2 #UD rules (spec §1.2-§1.4), one row per rule, and the whole opcode space checked
// against the reserved-row table.
#include <catch.hpp>

#include "decode/rex2.hpp"
#include "decode_test_util.hpp"

using decode::Fault;
using decode::Reason;
using decode_test::Bytes;
using decode_test::dec;

namespace {

struct RuleCase {
  const char* what;
  Bytes bytes;
  Reason reason;
};

const RuleCase kRuleCases[] = {
    // spec §1.2 prefix ordering
    {"REX right before REX2", {0x40, 0xD5, 0x00, 0x89, 0xC0}, Reason::rex_before_rex2},
    {"REX.W right before REX2", {0x48, 0xD5, 0x10, 0x89, 0xC0}, Reason::rex_before_rex2},
    {"REX after a legacy prefix, right before REX2", {0x66, 0x4F, 0xD5, 0x11, 0x01, 0xC1}, Reason::rex_before_rex2},
    {"REX2 REX2", {0xD5, 0x00, 0xD5, 0x00, 0x89, 0xC0}, Reason::rex2_then_rex2},
    {"REX2 VEX3", {0xD5, 0x00, 0xC4, 0xE2, 0x78, 0xF2, 0xC0}, Reason::rex2_then_vex_evex},
    {"REX2 VEX2", {0xD5, 0x10, 0xC5, 0xF8, 0x77}, Reason::rex2_then_vex_evex},
    {"REX2 EVEX", {0xD5, 0x00, 0x62, 0xF4, 0x7C, 0x08, 0x01, 0xC0}, Reason::rex2_then_vex_evex},
    {"REX2 0F", {0xD5, 0x00, 0x0F, 0x1F, 0x00}, Reason::rex2_then_escape},
    {"REX2 0F 38", {0xD5, 0x48, 0x0F, 0x38, 0xF0, 0x00}, Reason::rex2_then_escape},
    {"REX2 66", {0xD5, 0x00, 0x66, 0x89, 0xC0}, Reason::rex2_then_legacy_prefix},
    {"REX2 67", {0xD5, 0x00, 0x67, 0x89, 0xC0}, Reason::rex2_then_legacy_prefix},
    {"REX2 F0", {0xD5, 0x00, 0xF0, 0x01, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 F2", {0xD5, 0x00, 0xF2, 0x89, 0xC0}, Reason::rex2_then_legacy_prefix},
    {"REX2 F3", {0xD5, 0x00, 0xF3, 0x89, 0xC0}, Reason::rex2_then_legacy_prefix},
    {"REX2 2E", {0xD5, 0x00, 0x2E, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 26", {0xD5, 0x00, 0x26, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 36", {0xD5, 0x00, 0x36, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 3E", {0xD5, 0x00, 0x3E, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 64", {0xD5, 0x00, 0x64, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    {"REX2 65", {0xD5, 0x00, 0x65, 0x89, 0x00}, Reason::rex2_then_legacy_prefix},
    // spec §1.3 reserved rows
    {"map0 40 (REX byte)", {0xD5, 0x10, 0x40}, Reason::rex2_map0_40_4f},
    {"map0 4F", {0xD5, 0x00, 0x4F}, Reason::rex2_map0_40_4f},
    {"map0 74 Jcc rel8", {0xD5, 0x00, 0x74, 0x05}, Reason::rex2_map0_70_7f},
    {"map0 A0 mov al, moffs", {0xD5, 0x00, 0xA0, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::rex2_map0_a0_af},
    {"map0 A3 mov moffs, eax", {0xD5, 0x00, 0xA3, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::rex2_map0_a0_af},
    {"map0 A4 movsb", {0xD5, 0x00, 0xA4}, Reason::rex2_map0_a0_af},
    {"map0 AB stos", {0xD5, 0x08, 0xAB}, Reason::rex2_map0_a0_af},
    {"map0 E8 call rel32", {0xD5, 0x00, 0xE8, 0, 0, 0, 0}, Reason::rex2_map0_e0_ef},
    {"map0 EE out dx, al", {0xD5, 0x00, 0xEE}, Reason::rex2_map0_e0_ef},
    {"map1 30 wrmsr", {0xD5, 0x80, 0x30}, Reason::rex2_map1_30_37},
    {"map1 37 getsec", {0xD5, 0x80, 0x37}, Reason::rex2_map1_30_37},
    {"map1 38 escape", {0xD5, 0x80, 0x38, 0xF0, 0xC0}, Reason::rex2_map1_38_3a},
    {"map1 3A escape", {0xD5, 0x90, 0x3A, 0x0F, 0xC1, 0x08}, Reason::rex2_map1_38_3a},
    {"map1 39", {0xD5, 0x80, 0x39}, Reason::rex2_map1_30_3f},
    {"map1 3F", {0xD5, 0x80, 0x3F}, Reason::rex2_map1_30_3f},
    {"map1 0F (3DNow!)", {0xD5, 0x80, 0x0F, 0xC0, 0x94}, Reason::rex2_map1_0f},
    {"map1 84 Jcc rel32", {0xD5, 0x80, 0x84, 0, 0, 0, 0}, Reason::rex2_map1_80_8f},
    {"map1 8F Jcc rel32", {0xD5, 0xC0, 0x8F, 0x10, 0, 0, 0}, Reason::rex2_map1_80_8f},
    // spec §1.2: opcodes invalid in 64-bit mode stay invalid after REX2
    {"map0 06 push es", {0xD5, 0x00, 0x06}, Reason::rex2_map0_no64},
    {"map0 27 daa", {0xD5, 0x00, 0x27}, Reason::rex2_map0_no64},
    {"map0 60 pusha", {0xD5, 0x00, 0x60}, Reason::rex2_map0_no64},
    {"map0 82 group 1 alias", {0xD5, 0x00, 0x82, 0xC0, 0x01}, Reason::rex2_map0_no64},
    {"map0 9A call far", {0xD5, 0x00, 0x9A, 0, 0, 0, 0, 0, 0}, Reason::rex2_map0_no64},
    {"map0 D4 aam", {0xD5, 0x00, 0xD4, 0x0A}, Reason::rex2_map0_no64},
    {"map0 D6 salc", {0xD5, 0x00, 0xD6}, Reason::rex2_map0_no64},
    // spec §1.4 JMPABS
    {"JMPABS W=1", {0xD5, 0x08, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_w1},
    {"JMPABS W=1 R4", {0xD5, 0x48, 0xA1, 1, 0, 0, 0, 0, 0, 0, 0}, Reason::jmpabs_w1},
    {"JMPABS 66", {0x66, 0xD5, 0x00, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_prefix},
    {"JMPABS F2", {0xF2, 0xD5, 0x00, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_prefix},
    {"JMPABS F3", {0xF3, 0xD5, 0x00, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_prefix},
    {"JMPABS 67", {0x67, 0xD5, 0x00, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_prefix_67_f0},
    {"JMPABS F0", {0xF0, 0xD5, 0x00, 0xA1, 0, 0x10, 0x40, 0, 0, 0, 0, 0}, Reason::jmpabs_prefix_67_f0},
    // MOV CR/DR: REX2.R4 names CR16+/DR16+, which do not exist (APX spec via LLVM PR #82584)
    {"mov rax, cr16", {0xD5, 0xC0, 0x20, 0xC0}, Reason::rex2_cr_dr_r4},
    {"mov cr16, rax", {0xD5, 0xC0, 0x22, 0xC0}, Reason::rex2_cr_dr_r4},
    {"mov rax, dr16", {0xD5, 0xC0, 0x21, 0xC0}, Reason::rex2_cr_dr_r4},
};

}  // namespace

TEST_CASE("REX2 #UD rules: one row per rule", "[decode][rex2][ud]") {
  for (const RuleCase& c : kRuleCases) {
    INFO(c.what);
    const decode::Instruction insn = dec(c.bytes);
    CHECK(insn.fault == Fault::ud);
    CHECK(decode::reason_id(insn.reason) == std::string(decode::reason_id(c.reason)));
    CHECK(decode::reason_fault(insn.reason) == Fault::ud);
    CHECK(std::string(decode::reason_text(insn.reason)).size() > 10);
  }
}

TEST_CASE("REX2 with APX disabled is #UD (D5 is AAD, invalid in 64-bit mode)", "[decode][rex2][ud]") {
  const decode::Instruction insn = dec({0xD5, 0x10, 0x89, 0xC0}, decode::CpuMode::bits64, false);
  CHECK(insn.fault == Fault::ud);
  CHECK(insn.reason == Reason::rex2_apx_disabled);
  // ... and even a REX right before it gets the APX reason first.
  CHECK(dec({0x40, 0xD5, 0x10, 0x89, 0xC0}, decode::CpuMode::bits64, false).reason == Reason::rex2_apx_disabled);
}

TEST_CASE("REX followed by a legacy prefix is ignored, so REX2 after them is fine", "[decode][rex2]") {
  const decode::Instruction insn = dec({0x48, 0x66, 0xD5, 0x10, 0x89, 0x18});
  REQUIRE(insn.ok());
  CHECK(insn.length == 6);
  CHECK(decode_test::text(insn) == "mov word ptr [r16], bx");
  CHECK(insn.prefixes.rex == 0);
}

TEST_CASE("REX2 reserved-row table matches spec §1.3 for every opcode byte", "[decode][rex2][table]") {
  for (unsigned op = 0; op < 256; ++op) {
    const Reason m0 = decode::rex2_opcode_rule(0, static_cast<uint8_t>(op));
    const Reason m1 = decode::rex2_opcode_rule(1, static_cast<uint8_t>(op));
    INFO("opcode " << op);
    if (op >= 0x40 && op <= 0x4F) CHECK(m0 == Reason::rex2_map0_40_4f);
    else if (op >= 0x70 && op <= 0x7F) CHECK(m0 == Reason::rex2_map0_70_7f);
    else if (op >= 0xA0 && op <= 0xAF) CHECK(m0 == Reason::rex2_map0_a0_af);
    else if (op >= 0xE0 && op <= 0xEF) CHECK(m0 == Reason::rex2_map0_e0_ef);
    else if (op == 0x0F) CHECK(m0 == Reason::rex2_then_escape);
    else if (op == 0xD5) CHECK(m0 == Reason::rex2_then_rex2);
    else if (op == 0xC4 || op == 0xC5 || op == 0x62) CHECK(m0 == Reason::rex2_then_vex_evex);
    else if (op == 0x26 || op == 0x2E || op == 0x36 || op == 0x3E || (op >= 0x64 && op <= 0x67) || op == 0xF0 ||
             op == 0xF2 || op == 0xF3) {
      CHECK(m0 == Reason::rex2_then_legacy_prefix);
    } else if (op == 0x06 || op == 0x07 || op == 0x0E || op == 0x16 || op == 0x17 || op == 0x1E || op == 0x1F ||
               op == 0x27 || op == 0x2F || op == 0x37 || op == 0x3F || op == 0x60 || op == 0x61 || op == 0x82 ||
               op == 0x9A || op == 0xCE || op == 0xD4 || op == 0xD6 || op == 0xEA) {
      CHECK(m0 == Reason::rex2_map0_no64);
    } else {
      CHECK(m0 == Reason::ok);
    }
    if (op >= 0x30 && op <= 0x37) CHECK(m1 == Reason::rex2_map1_30_37);
    else if (op == 0x38 || op == 0x3A) CHECK(m1 == Reason::rex2_map1_38_3a);
    else if (op >= 0x39 && op <= 0x3F) CHECK(m1 == Reason::rex2_map1_30_3f);
    else if (op >= 0x80 && op <= 0x8F) CHECK(m1 == Reason::rex2_map1_80_8f);
    else if (op == 0x0F) CHECK(m1 == Reason::rex2_map1_0f);
    else CHECK(m1 == Reason::ok);
  }
}

TEST_CASE("Every reserved map-0/map-1 opcode is rejected by decode() for every payload", "[decode][rex2][table]") {
  for (unsigned payload = 0; payload < 256; ++payload) {
    const uint8_t m0 = payload >> 7;
    for (unsigned op = 0; op < 256; ++op) {
      const Reason rule = decode::rex2_opcode_rule(m0, static_cast<uint8_t>(op));
      if (rule == Reason::ok || (m0 == 0 && op == 0xA1)) continue;
      Bytes b = {0xD5, static_cast<uint8_t>(payload), static_cast<uint8_t>(op), 0, 0, 0, 0, 0, 0, 0, 0, 0};
      const decode::Instruction insn = dec(b);
      if (insn.reason != rule) {
        INFO("payload " << payload << " opcode " << op);
        CHECK(insn.reason == rule);
      }
    }
  }
}

TEST_CASE("JMPABS: D5 00 A1 imm64, 11 bytes; other payload bits ignored; segment prefixes allowed", "[decode][rex2][jmpabs]") {
  const decode::Instruction insn = dec({0xD5, 0x00, 0xA1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
  REQUIRE(insn.ok());
  CHECK(insn.emulatable());
  CHECK(insn.mnemonic == decode::Mnemonic::jmpabs);
  CHECK(insn.length == 11);
  REQUIRE(insn.operand_count >= 1);
  CHECK(insn.operands[0].kind == decode::OperandKind::abs);
  CHECK(insn.operands[0].imm.value == 0x1122334455667788ull);
  CHECK(decode_test::text(insn) == "jmpabs 1234605616436508552");
  // R4/X4/B4/R3/X3/B3 do not matter (only M0 and W do).
  CHECK(dec({0xD5, 0x77, 0xA1, 1, 0, 0, 0, 0, 0, 0, 0}).mnemonic == decode::Mnemonic::jmpabs);
  CHECK(dec({0x64, 0xD5, 0x00, 0xA1, 1, 0, 0, 0, 0, 0, 0, 0}).length == 12);
  // Truncated immediate: needs more bytes, not #UD.
  CHECK(dec({0xD5, 0x00, 0xA1, 1, 2, 3}).fault == Fault::truncated);
}

TEST_CASE("Reason tags are unique, so a rule name picks one reason", "[decode][reason]") {
  const unsigned n = static_cast<unsigned>(Reason::internal) + 1;
  for (unsigned a = 0; a < n; ++a) {
    for (unsigned b = a + 1; b < n; ++b) {
      CHECK(std::string(decode::reason_tag(static_cast<Reason>(a))) != decode::reason_tag(static_cast<Reason>(b)));
    }
  }
}
