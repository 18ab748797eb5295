// EVEX with APX extensions (spec §2): recognised, measured, described, and reported as not
// emulated; rejected when APX is disabled.
#include <catch.hpp>

#include "decode_test_util.hpp"

using decode::CpuMode;
using decode::Fault;
using decode::Reason;
using decode_test::Bytes;
using decode_test::dec;
using decode_test::text;

namespace {

struct EvexCase {
  const char* what;
  Bytes bytes;
  const char* text;
};

// Map 4 (promoted legacy) and the other APX EVEX forms; texts in LLVM's Intel syntax.
const EvexCase kCases[] = {
    {"NDD add with imm8 and NF", {0x62, 0xF4, 0xF4, 0x1C, 0x80, 0xC3, 0x7B}, "{nf} add cl, bl, 123"},
    {"NDD add r, r, m", {0x62, 0x54, 0x84, 0x1C, 0x03, 0x8C, 0x80, 0x23, 0x01, 0x00, 0x00},
     "{nf} add r15, r9, qword ptr [r8 + 4*rax + 291]"},
    {"NDD add r, m, r", {0x62, 0xEC, 0xEC, 0x10, 0x01, 0x41, 0x7B}, "add r18, qword ptr [r17 + 123], r16"},
    {"NF neg", {0x62, 0xFC, 0xFC, 0x0C, 0xF7, 0x58, 0x7B}, "{nf} neg qword ptr [r16 + 123]"},
    {"{evex} not", {0x62, 0xFC, 0xFC, 0x08, 0xF7, 0x50, 0x7B}, "{evex} not qword ptr [r16 + 123]"},
    {"imm32 with W and 66 (W wins)", {0x62, 0xD4, 0xAD, 0x18, 0x83, 0xC1, 0x7B}, "add r10, r9, 123"},
    {"NDD cmovb 16-bit", {0x62, 0xF4, 0x35, 0x18, 0x42, 0xC2}, "cmovb r9w, ax, dx"},
    {"setcc in map 4", {0x62, 0xF4, 0x7F, 0x08, 0x44, 0xC0}, "{evex} sete al"},
    {"push2", {0x62, 0xF4, 0x44, 0x18, 0xFF, 0xF0}, "push2 rdi, rax"},
    {"push2 with EGPRs", {0x62, 0xD4, 0x7C, 0x10, 0xFF, 0xF7}, "push2 r16, r15"},
    {"pop2", {0x62, 0xDC, 0x04, 0x10, 0x8F, 0xC0}, "pop2 r31, r24"},
    {"push2p (W=1)", {0x62, 0xF4, 0xC4, 0x18, 0xFF, 0xF0}, "push2p rdi, rax"},
    {"crc32 r32, r8", {0x62, 0xEC, 0x7C, 0x08, 0xF0, 0xF0}, "crc32 r22d, r16b"},
    {"crc32 r32, m16", {0x62, 0x8C, 0x79, 0x08, 0xF1, 0x94, 0xAC, 0x23, 0x01, 0x00, 0x00},
     "crc32 r18d, word ptr [r28 + 4*r29 + 291]"},
    {"invept", {0x62, 0x8C, 0x7A, 0x08, 0xF0, 0x5C, 0xAC, 0x7B}, "invept r19, xmmword ptr [r28 + 4*r29 + 123]"},
    {"invpcid", {0x62, 0x74, 0xFE, 0x08, 0xF2, 0x4C, 0x98, 0x7B}, "invpcid r9, xmmword ptr [rax + 4*rbx + 123]"},
    {"ccmp with default flags", {0x62, 0xF4, 0x44, 0x0A, 0x38, 0xC0}, "ccmpt {dfv=of} al, al"},
    {"ctest imm", {0x62, 0xF4, 0x7C, 0x0C, 0xF7, 0xC0, 0x01, 0x00, 0x00, 0x00}, "ctestl {dfv=of,sf,zf,cf} eax, 1"},
    {"cfcmov load form", {0x62, 0xF4, 0xFC, 0x08, 0x40, 0xC8}, "cfcmovo rcx, rax"},
    {"cfcmov store form (NF)", {0x62, 0xF4, 0xFC, 0x0C, 0x40, 0xC8}, "cfcmovo rax, rcx"},
    {"setzu", {0x62, 0xF4, 0x7F, 0x18, 0x44, 0xC0}, "setzue al"},
    {"imulzu", {0x62, 0xF4, 0x7C, 0x18, 0x6B, 0xC0, 0x90}, "imulzu eax, eax, -112"},
    {"16-bit imm prints signed in map 4", {0x62, 0xF4, 0x7D, 0x08, 0x81, 0xC0, 0x90, 0x90}, "{evex} add ax, -28528"},
    {"movbe r, r (EVEX only)", {0x62, 0xC4, 0xFC, 0x08, 0x60, 0xD8}, "movbe r19, r8"},
    {"sha1msg1 in map 4", {0x62, 0x1C, 0x78, 0x08, 0xD9, 0xA4, 0xAC, 0x23, 0x01, 0x00, 0x00},
     "sha1msg1 xmm12, xmmword ptr [r28 + 4*r29 + 291]"},
    {"AVX-512 with EGPR base/index", {0x62, 0xFB, 0x79, 0x48, 0x19, 0x04, 0x08, 0x01},
     "vextractf32x4 xmmword ptr [r16 + r17], zmm0, 1"},
    {"promoted BMI2 mulx", {0x62, 0xEA, 0xF7, 0x00, 0xF6, 0xD0}, "mulx r18, r17, r16"},
    {"promoted BMI2 bzhi", {0x62, 0x6A, 0xE4, 0x00, 0xF5, 0xDF}, "bzhi r27, r23, r19"},
    {"promoted andn with NF", {0x62, 0xF2, 0x7C, 0x0C, 0xF2, 0xC0}, "{nf} andn eax, eax, eax"},
    {"CMPccXADD", {0x62, 0x8A, 0x69, 0x00, 0xE6, 0xB4, 0xAC, 0x23, 0x01, 0x00, 0x00},
     "cmpbexadd dword ptr [r28 + 4*r29 + 291], r22d, r18d"},
};

}  // namespace

TEST_CASE("EVEX-APX forms: recognised, length and text, not emulated", "[decode][evex]") {
  for (const EvexCase& c : kCases) {
    INFO(c.what);
    const decode::Instruction insn = dec(c.bytes);
    REQUIRE(insn.ok());
    CHECK(insn.length == c.bytes.size());
    CHECK(text(insn) == c.text);
    CHECK(insn.evex.present);
    CHECK(insn.evex.apx);
    CHECK(insn.encoding == decode::Encoding::evex);
    CHECK_FALSE(insn.emulatable());
    CHECK(insn.reason == Reason::evex_apx_not_emulated);
    // A hypervisor that disabled APX sees #UD for every one of them.
    const decode::Instruction off = dec(c.bytes, CpuMode::bits64, false);
    CHECK(off.fault == Fault::ud);
    CHECK(off.reason == Reason::evex_apx_disabled);
  }
}

TEST_CASE("EVEX-APX lengths: ModRM, SIB, displacement and immediate sizes", "[decode][evex][length]") {
  // 62 P0 P1 P2 opcode modrm [sib] [disp] [imm]
  CHECK(dec({0x62, 0xF4, 0x7C, 0x18, 0x81, 0x04, 0x24, 1, 2, 3, 4}).length == 11);      // imm32
  CHECK(dec({0x62, 0xF4, 0x7D, 0x18, 0x81, 0x04, 0x24, 1, 2}).length == 9);             // 66: imm16
  CHECK(dec({0x62, 0xF4, 0x7C, 0x18, 0x83, 0x84, 0x24, 1, 2, 3, 4, 5}).length == 12);  // disp32 + imm8
  CHECK(dec({0x62, 0xF4, 0x7C, 0x18, 0x01, 0x05, 1, 2, 3, 4}).length == 10);           // RIP-relative
  CHECK(dec({0x62, 0xF4, 0x7C, 0x08, 0x24, 0xC0, 0x05}).length == 7);                  // shld imm8
  // Truncated at every byte.
  const Bytes full = {0x62, 0x54, 0x84, 0x1C, 0x03, 0x8C, 0x80, 0x23, 0x01, 0x00, 0x00};
  for (size_t n = 1; n < full.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(dec(Bytes(full.begin(), full.begin() + static_cast<long>(n))).fault == Fault::truncated);
  }
}

TEST_CASE("EVEX-APX rejections", "[decode][evex][ud]") {
  CHECK(dec({0x62, 0xF4, 0x7C, 0x08, 0x07, 0xC0}).reason == Reason::evex_apx_reserved);  // no map-4 07
  CHECK(dec({0x62, 0xF4, 0x7C, 0x08, 0xC0, 0xF0, 0x01}).reason == Reason::evex_apx_reserved);  // C0 /6
  CHECK(dec({0x62, 0xF4, 0x6C, 0x08, 0x01, 0xC0}).reason == Reason::evex_apx_malformed);  // vvvv without ND
  CHECK(dec({0x62, 0xF4, 0x7C, 0x08, 0xFF, 0xF0}).reason == Reason::evex_apx_malformed);  // push2 needs ND
  CHECK(dec({0x62, 0xF4, 0x7C, 0x28, 0x01, 0xC0}).reason == Reason::evex_apx_malformed);  // L'L != 0
  CHECK(dec({0x66, 0x62, 0xF4, 0x7C, 0x08, 0x01, 0xC0}).fault == Fault::ud);             // 66 before EVEX
  CHECK(dec({0x48, 0x62, 0xF4, 0x7C, 0x08, 0x01, 0xC0}).fault == Fault::ud);             // REX before EVEX
}

TEST_CASE("Classic EVEX without APX bits stays emulatable-class (reason ok)", "[decode][evex]") {
  const decode::Instruction insn = dec({0x62, 0xF1, 0x7C, 0x48, 0x58, 0x44, 0x24, 0x01});
  REQUIRE(insn.ok());
  CHECK_FALSE(insn.evex.apx);
  CHECK(insn.reason == Reason::ok);
  CHECK(text(insn) == "vaddps zmm0, zmm0, zmmword ptr [rsp + 64]");
  // R4 on a GPR destination (vcvtsd2usi r16, xmm0) is an APX form.
  const decode::Instruction gpr = dec({0x62, 0xE1, 0xFF, 0x08, 0x79, 0xC0});
  REQUIRE(gpr.ok());
  CHECK(gpr.evex.apx);
  CHECK(text(gpr) == "vcvtsd2usi r16, xmm0");
}
