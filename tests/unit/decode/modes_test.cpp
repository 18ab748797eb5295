// 16/32-bit modes (D5 is AAD there, 40-4F are INC/DEC), real mode, and plain legacy decodes.
#include <catch.hpp>

#include "decode_test_util.hpp"

using decode::CpuMode;
using decode::Fault;
using decode_test::dec;
using decode_test::text;

TEST_CASE("Outside 64-bit mode D5 is AAD, not REX2 (spec §1.1)", "[decode][modes]") {
  for (CpuMode mode : {CpuMode::bits16, CpuMode::bits32}) {
    const decode::Instruction insn = dec({0xD5, 0x0A}, mode, true);
    REQUIRE(insn.ok());
    CHECK(insn.mnemonic == decode::zy(ZYDIS_MNEMONIC_AAD));
    CHECK(insn.length == 2);
    CHECK_FALSE(insn.rex2.present);
    CHECK(insn.encoding == decode::Encoding::legacy);
    // A "payload" with M0 set is just AAD's immediate.
    CHECK(dec({0xD5, 0x88, 0x50}, mode, true).length == 2);
    // APX enabled or not makes no difference there.
    CHECK(dec({0xD5, 0x0A}, mode, false).ok());
  }
  // In 64-bit mode without APX, D5 (AAD) is invalid.
  CHECK(dec({0xD5, 0x0A}, CpuMode::bits64, false).fault == Fault::ud);
}

TEST_CASE("40-4F are INC/DEC outside 64-bit mode and REX inside", "[decode][modes]") {
  CHECK(text({0x40}, CpuMode::bits32) == "inc eax");
  CHECK(text({0x4F}, CpuMode::bits16) == "dec di");
  CHECK(dec({0x40}, CpuMode::bits64).fault == Fault::truncated);  // REX alone: needs the opcode
  CHECK(text({0x41, 0x50}, CpuMode::bits64) == "push r8");
}

TEST_CASE("Operand and address sizes follow the mode", "[decode][modes]") {
  CHECK(text({0x8B, 0x00}, CpuMode::bits32) == "mov eax, dword ptr [eax]");
  CHECK(text({0x8B, 0x07}, CpuMode::bits16) == "mov ax, word ptr [bx]");
  CHECK(text({0x66, 0x8B, 0x00}, CpuMode::bits32) == "mov ax, word ptr [eax]");
  const decode::Instruction insn = dec({0x8B, 0x00}, CpuMode::bits32);
  CHECK(insn.operand_bits == 32);
  CHECK(insn.address_bits == 32);
}

TEST_CASE("62 outside 64-bit mode: BOUND with a memory operand, EVEX with mod=11", "[decode][modes]") {
  const decode::Instruction bound = dec({0x62, 0x00}, CpuMode::bits32);
  REQUIRE(bound.ok());
  CHECK(bound.mnemonic == decode::zy(ZYDIS_MNEMONIC_BOUND));
  const decode::Instruction evex = dec({0x62, 0xF1, 0x7C, 0x48, 0x58, 0xC1}, CpuMode::bits32);
  REQUIRE(evex.ok());
  CHECK(evex.mnemonic == decode::zy(ZYDIS_MNEMONIC_VADDPS));
  CHECK_FALSE(evex.evex.apx);
}

TEST_CASE("Real mode: C4/C5 are LES/LDS", "[decode][modes]") {
  decode::Options o;
  o.mode = CpuMode::bits16;
  o.real_mode = true;
  const uint8_t les[] = {0xC4, 0xC0, 0x00, 0x00, 0x00};
  const decode::Instruction insn = decode::decode(les, sizeof les, o);
  // LES needs a memory operand: with mod=11 it is #UD in real mode, never VEX.
  CHECK(insn.fault == Fault::ud);
  const uint8_t les_mem[] = {0xC4, 0x07};
  const decode::Instruction m = decode::decode(les_mem, sizeof les_mem, o);
  REQUIRE(m.ok());
  CHECK(m.mnemonic == decode::zy(ZYDIS_MNEMONIC_LES));
}

TEST_CASE("Legacy instructions decode through Zydis unchanged", "[decode][legacy]") {
  CHECK(text({0x48, 0x89, 0x47, 0x08}) == "mov qword ptr [rdi + 8], rax");
  CHECK(text({0x0F, 0x01, 0xD0}) == "xgetbv");
  CHECK(text({0x0F, 0x20, 0xC0}) == "mov rax, cr0");
  CHECK(text({0x44, 0x0F, 0x20, 0xC0}) == "mov rax, cr8");
  CHECK(text({0xF3, 0x48, 0xA5}) == "rep movsq qword ptr es:[rdi], qword ptr [rsi]");
  CHECK(text({0x48, 0xB8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}) == "movabs rax, -1");
  CHECK(text({0xB8, 0xFF, 0xFF, 0xFF, 0xFF}) == "mov eax, 4294967295");
  CHECK(text({0x48, 0x83, 0xC0, 0x80}) == "add rax, -128");
  CHECK(text({0xC1, 0xE0, 0xFF}) == "shl eax, 255");
  CHECK(text({0x66, 0x0F, 0xC2, 0xC1, 0x07}) == "cmpordpd xmm0, xmm1");
  CHECK(text({0x62, 0xF1, 0x7C, 0x5D, 0x58, 0x00}) == "vaddps zmm0 {k5}, zmm0, dword ptr [rax]{1to16}");
  const decode::Instruction cpuid = dec({0x0F, 0xA2});
  REQUIRE(cpuid.ok());
  CHECK(cpuid.emulatable());
  CHECK(cpuid.encoding == decode::Encoding::legacy);
  CHECK(dec({0x0F, 0xFF}).fault == Fault::truncated);  // UD0 takes a ModRM byte
  CHECK(dec({0x0F, 0xFF, 0xC0}).ok());                 // UD0/UD2 decode; executing them is #UD
  CHECK(dec({0x0F, 0x0B}).ok());
  CHECK(dec({0xF0, 0x90}).reason == decode::Reason::illegal_lock);
}
