// The Intel formatter: register names from arch/gpr_table.def, memory/immediate spelling,
// and the caller-buffer contract.
#include <catch.hpp>

#include <cstring>

#include "arch/gpr.hpp"
#include "decode_test_util.hpp"

using decode_test::dec;
using decode_test::reg_name;
using decode_test::text;

TEST_CASE("GPR names come from the one 32-register table", "[format][registers]") {
  const arch::GprWidth widths[] = {arch::GprWidth::b8, arch::GprWidth::b16, arch::GprWidth::b32, arch::GprWidth::b64};
  const uint16_t bits[] = {8, 16, 32, 64};
  for (unsigned n = 0; n < 32; ++n) {
    for (unsigned w = 0; w < 4; ++w) {
      decode::Reg r;
      r.cls = decode::RegClass::gpr;
      r.num = static_cast<uint8_t>(n);
      r.bits = bits[w];
      CHECK(reg_name(r) == arch::gpr_name(n, widths[w]));
    }
  }
  CHECK(reg_name(decode::Reg{decode::RegClass::gpr, 0, 8, true, 0}) == "ah");
  CHECK(reg_name(decode::Reg{decode::RegClass::gpr, 3, 8, true, 0}) == "bh");
  CHECK(reg_name(decode::Reg{decode::RegClass::x87, 1, 80, false, 0}) == "st(1)");
  CHECK(reg_name(decode::Reg{decode::RegClass::cr, 8, 64, false, 0}) == "cr8");
  CHECK(reg_name(decode::Reg{decode::RegClass::mask, 3, 64, false, 0}) == "k3");
  CHECK(reg_name(decode::Reg{decode::RegClass::seg, 4, 16, false, 0}) == "fs");
}

TEST_CASE("Memory operands in LLVM's spelling", "[format][memory]") {
  CHECK(text({0x8B, 0x04, 0x24}) == "mov eax, dword ptr [rsp]");
  CHECK(text({0x8B, 0x04, 0x25, 0x10, 0, 0, 0}) == "mov eax, dword ptr [16]");
  CHECK(text({0x8B, 0x04, 0x65, 0x10, 0, 0, 0}) == "mov eax, dword ptr [2*riz + 16]");
  CHECK(text({0x8B, 0x44, 0x20, 0x08}) == "mov eax, dword ptr [rax + riz + 8]");
  CHECK(text({0x8B, 0x05, 0xF0, 0xFF, 0xFF, 0xFF}) == "mov eax, dword ptr [rip - 16]");
  CHECK(text({0x8B, 0x84, 0x98, 0x23, 0x01, 0, 0}) == "mov eax, dword ptr [rax + 4*rbx + 291]");
  CHECK(text({0x8D, 0x04, 0x98}) == "lea eax, [rax + 4*rbx]");
  CHECK(text({0x2E, 0x8B, 0x00}) == "mov eax, dword ptr cs:[rax]");
  CHECK(text({0xD9, 0x20}) == "fldenv [rax]");
  CHECK(text({0xDB, 0x28}) == "fld tbyte ptr [rax]");
  CHECK(text({0x0F, 0x01, 0x10}) == "lgdt [rax]");
  // Absolute addresses: sign-extended disp32, 64-bit moffs (movabs), 32-bit moffs (unsigned).
  CHECK(text({0x8B, 0x04, 0x25, 0xF0, 0xFF, 0xFF, 0xFF}) == "mov eax, dword ptr [-16]");
  CHECK(text({0xA1, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}) == "movabs eax, dword ptr [-16]");
  CHECK(text({0x67, 0xA1, 0xF0, 0xFF, 0xFF, 0xFF}) == "mov eax, dword ptr [4294967280]");
  // A 67 prefix no register shows is written "addr32".
  CHECK(text({0x67, 0x8B, 0x04, 0x25, 0xF0, 0xFF, 0xFF, 0xFF}) == "addr32 mov eax, dword ptr [-16]");
  CHECK(text({0x67, 0x8B, 0x00}) == "mov eax, dword ptr [eax]");
}

TEST_CASE("Immediates: decimal, signed the way LLVM signs them", "[format][immediate]") {
  CHECK(text({0xB0, 0x80}) == "mov al, -128");
  CHECK(text({0x66, 0x05, 0xFF, 0xFF}) == "add ax, 65535");
  CHECK(text({0x05, 0xFF, 0xFF, 0xFF, 0xFF}) == "add eax, 4294967295");
  CHECK(text({0x48, 0x05, 0xFF, 0xFF, 0xFF, 0xFF}) == "add rax, -1");
  CHECK(text({0x6A, 0xFF}) == "push -1");
  CHECK(text({0xCD, 0x80}) == "int 128");
  CHECK(text({0xC2, 0xFF, 0xFF}) == "ret -1");
  CHECK(text({0xC8, 0xFF, 0xFF, 0xFF}) == "enter -1, -1");
  CHECK(text({0x74, 0x05}) == "je 5");
  CHECK(text({0xE8, 0, 0, 0, 0}) == "call 0");
}

TEST_CASE("format_intel writes into the caller's buffer like snprintf", "[format][buffer]") {
  const decode::Instruction insn = dec({0xD5, 0x10, 0x8D, 0x44, 0x24, 0x01});
  REQUIRE(insn.ok());
  char full[128];
  const size_t need = decode::format_intel(insn, full, sizeof full);
  CHECK(std::string(full) == "lea eax, [r20 + riz + 1]");
  CHECK(need == std::strlen(full));
  for (size_t size = 0; size < need + 2; ++size) {
    char small[64];
    std::memset(small, 'X', sizeof small);
    const size_t n = decode::format_intel(insn, small, size);
    CHECK(n == need);
    if (size > 0) {
      CHECK(std::strlen(small) == std::min(size - 1, need));
      CHECK(std::string(small) == std::string(full).substr(0, std::min(size - 1, need)));
    }
    CHECK(small[size < sizeof small ? size : 0] == (size == 0 ? 'X' : small[size]));  // nothing past `size`
    if (size + 1 < sizeof small) CHECK(small[size + 1] == 'X');
  }
  char bad[16];
  decode::format_intel(dec({0xD5, 0x00, 0x74, 0x05}), bad, sizeof bad);
  CHECK(std::string(bad) == "(bad)");
}

TEST_CASE("format_mnemonic gives the printed mnemonic", "[format][mnemonic]") {
  char m[32];
  decode::format_mnemonic(dec({0xD5, 0x08, 0x50}), m, sizeof m);
  CHECK(std::string(m) == "pushp");
  decode::format_mnemonic(dec({0x48, 0xB8, 1, 0, 0, 0, 0, 0, 0, 0}), m, sizeof m);
  CHECK(std::string(m) == "movabs");
  decode::format_mnemonic(dec({0xD5, 0x90, 0x94, 0xC0}), m, sizeof m);
  CHECK(std::string(m) == "sete");
  decode::format_mnemonic(dec({0x62, 0xF4, 0x44, 0x0A, 0x38, 0xC0}), m, sizeof m);
  CHECK(std::string(m) == "ccmpt");
}
