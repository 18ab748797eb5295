// decode/mov_store32: the recogniser of `MOV m32, r32` / `MOV m32, imm32` the local-APIC
// fast path uses. Rows for every accepted form (each ModRM/SIB/displacement length class of
// SDM Vol 2A Tables 2-2/2-3, REX.R/REX.B, REX2.R3/R4, imm32), rows for every rejection rule,
// and a differential test against the full decoder (decode::decode, Zydis-backed) over all
// ModRM bytes, SIB variants, opcodes and prefixes.
#include <catch.hpp>

#include <cstdio>
#include <initializer_list>
#include <string>

#include "decode/mov_store32.hpp"
#include "decode_test_util.hpp"

using decode::CpuMode;
using decode::MovStore32;
using decode::MovStore32Miss;
using decode_test::Bytes;

namespace {

constexpr CpuMode k64 = CpuMode::bits64, k32 = CpuMode::bits32, k16 = CpuMode::bits16;

MovStore32 match(const Bytes& b, CpuMode mode = k64, bool apx = true) {
  return decode::match_mov_store32(b.data(), b.size(), mode, apx);
}

std::string hex(const uint8_t* b, size_t n) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, i ? " %02x" : "%02x", b[i]);
    s += buf;
  }
  return s;
}

struct Accept {
  const char* what;
  Bytes bytes;
  CpuMode mode;
  unsigned length;
  int reg;        // source register, or -1 for an immediate
  uint32_t imm;
};

}  // namespace

TEST_CASE("mov_store32: accepted forms, one row per encoding class", "[decode][mov_store32]") {
  const Accept rows[] = {
      // 64-bit mode, no prefix: SDM Vol 2A Table 2-2 (the same layout for 64-bit addressing).
      {"mov [rax], eax: mod=00", {0x89, 0x00}, k64, 2, 0, 0},
      {"mov [rbp+0x10], ecx: mod=01 disp8", {0x89, 0x4D, 0x10}, k64, 3, 1, 0},
      {"mov [rdi+0x320], edx: mod=10 disp32", {0x89, 0x97, 0x20, 0x03, 0, 0}, k64, 6, 2, 0},
      {"mov [rip+0x1000], ebx: mod=00 r/m=101 RIP-relative disp32", {0x89, 0x1D, 0, 0x10, 0, 0}, k64, 6, 3, 0},
      {"mov [rsp], esp: SIB", {0x89, 0x24, 0x24}, k64, 3, 4, 0},
      {"mov [0xfee000b0], ebp: SIB base=101 mod=00, disp32, no base", {0x89, 0x2C, 0x25, 0xB0, 0, 0xE0, 0xFE}, k64, 7,
       5, 0},
      {"mov [rbp+rcx*4], esi: SIB base=101 mod=01, disp8", {0x89, 0x74, 0x8D, 0x00}, k64, 4, 6, 0},
      {"mov [rbp+rcx*4+0x100], edi: SIB base=101 mod=10, disp32", {0x89, 0xBC, 0x8D, 0, 1, 0, 0}, k64, 7, 7, 0},
      {"mov [rsp+8], eax: SIB + disp8", {0x89, 0x44, 0x24, 0x08}, k64, 4, 0, 0},
      // REX (W=0): R extends the source, B the base; neither changes the SIB/disp32 special cases.
      {"REX 40 (no bits)", {0x40, 0x89, 0x00}, k64, 3, 0, 0},
      {"mov [r11], eax: REX.B (exitbench's apic_tpr_write)", {0x41, 0x89, 0x03}, k64, 3, 0, 0},
      {"mov [rbx], r8d: REX.R", {0x44, 0x89, 0x03}, k64, 3, 8, 0},
      {"mov [r11], r15d: REX.R+B", {0x45, 0x89, 0x3B}, k64, 3, 15, 0},
      {"mov [r12], eax: REX.B r/m=100 still needs a SIB", {0x41, 0x89, 0x04, 0x24}, k64, 4, 0, 0},
      {"mov [r13+0], eax: REX.B mod=01 r/m=101", {0x41, 0x89, 0x45, 0x00}, k64, 4, 0, 0},
      {"mov [rip+d32], eax: REX.B mod=00 r/m=101 is still RIP-relative", {0x41, 0x89, 0x05, 1, 2, 3, 4}, k64, 7, 0, 0},
      {"mov [r12*1+d32], eax: REX.X index, SIB base=101 mod=00", {0x42, 0x89, 0x04, 0x25, 1, 2, 3, 4}, k64, 8, 0, 0},
      {"mov [r13+r12*1], eax: REX.B SIB base=101 mod=01", {0x43, 0x89, 0x44, 0x25, 0x00}, k64, 5, 0, 0},
      // REX2 (guest APX on): R3 adds 8, R4 adds 16 to the source register.
      {"mov [rax], r16d: REX2.R4", {0xD5, 0x40, 0x89, 0x00}, k64, 4, 16, 0},
      {"mov [rax], r25d: REX2.R4+R3, reg=1", {0xD5, 0x44, 0x89, 0x08}, k64, 4, 25, 0},
      {"mov [rax], r31d: REX2.R4+R3, reg=7", {0xD5, 0x44, 0x89, 0x38}, k64, 4, 31, 0},
      {"mov [rax], r15d: REX2.R3 alone", {0xD5, 0x04, 0x89, 0x38}, k64, 4, 15, 0},
      {"mov [r24], eax: REX2.B4+B3 base", {0xD5, 0x11, 0x89, 0x00}, k64, 4, 0, 0},
      {"mov [r20+r17*1+d8], r23d: REX2 X4+B4+R4, SIB + disp8", {0xD5, 0x72, 0x89, 0x7C, 0x0C, 0x08}, k64, 6, 23, 0},
      {"mov [r29+0], eax: REX2.B4 mod=01 r/m=101", {0xD5, 0x11, 0x89, 0x45, 0x00}, k64, 5, 0, 0},
      {"mov [rip+d32], r16d: REX2 RIP-relative", {0xD5, 0x40, 0x89, 0x05, 1, 2, 3, 4}, k64, 8, 16, 0},
      {"REX2 payload 00", {0xD5, 0x00, 0x89, 0x00}, k64, 4, 0, 0},
      // C7 /0: imm32 after ModRM/SIB/displacement.
      {"mov dword [rax], imm32", {0xC7, 0x00, 0x78, 0x56, 0x34, 0x12}, k64, 6, -1, 0x12345678},
      {"mov dword [rax+0x320], 0: mod=10", {0xC7, 0x80, 0x20, 0x03, 0, 0, 0, 0, 0, 0}, k64, 10, -1, 0},
      {"mov dword [rip+d32], imm32", {0xC7, 0x05, 1, 2, 3, 4, 0xEF, 0xBE, 0xAD, 0xDE}, k64, 10, -1, 0xDEADBEEF},
      {"mov dword [0xfee00300], imm32: SIB no base", {0xC7, 0x04, 0x25, 0, 3, 0xE0, 0xFE, 0x00, 0x45, 0x0C, 0x00},
       k64, 11, -1, 0x000C4500},
      {"mov dword [r11+0x10], -1: REX.B", {0x41, 0xC7, 0x43, 0x10, 0xFF, 0xFF, 0xFF, 0xFF}, k64, 8, -1, 0xFFFFFFFF},
      {"C7 /0 with REX.R (ignored for an opcode extension)", {0x44, 0xC7, 0x00, 1, 0, 0, 0}, k64, 7, -1, 1},
      {"mov dword [r16], imm32: REX2.B4", {0xD5, 0x10, 0xC7, 0x00, 4, 3, 2, 1}, k64, 8, -1, 0x01020304},
      {"the longest: REX2 + SIB + disp32 + imm32", {0xD5, 0x00, 0xC7, 0x84, 0x24, 1, 2, 3, 4, 5, 6, 7, 8}, k64, 13, -1,
       0x08070605},
      // 32-bit protected mode: the same lengths; mod=00 r/m=101 is an absolute disp32.
      {"32-bit: mov [eax], eax", {0x89, 0x00}, k32, 2, 0, 0},
      {"32-bit: mov [0xfee000b0], ecx: disp32 absolute", {0x89, 0x0D, 0xB0, 0, 0xE0, 0xFE}, k32, 6, 1, 0},
      {"32-bit: mov [esp+8], edi: SIB + disp8", {0x89, 0x7C, 0x24, 0x08}, k32, 4, 7, 0},
      {"32-bit: mov [ebx*4+d32], edx: SIB base=101 mod=00", {0x89, 0x14, 0x9D, 1, 2, 3, 4}, k32, 7, 2, 0},
      {"32-bit: mov dword [0xfee00080], imm32", {0xC7, 0x05, 0x80, 0, 0xE0, 0xFE, 0x10, 0, 0, 0}, k32, 10, -1, 0x10},
  };
  for (const Accept& r : rows) {
    INFO(r.what << ": " << hex(r.bytes.data(), r.bytes.size()));
    // With trailing bytes that belong to the next instruction: the length must not grow.
    Bytes padded = r.bytes;
    padded.insert(padded.end(), {0x90, 0x90, 0x90});
    for (const Bytes* b : std::initializer_list<const Bytes*>{&r.bytes, &padded}) {
      const MovStore32 m = match(*b, r.mode, true);
      REQUIRE(m.ok());
      CHECK(m.length == r.length);
      CHECK(m.immediate == (r.reg < 0));
      if (r.reg >= 0)
        CHECK(m.reg == r.reg);
      else
        CHECK(m.imm == r.imm);
    }
    // Every shorter prefix of the bytes is truncated, never something else.
    for (size_t n = 0; n < r.length; ++n) CHECK(match(Bytes(r.bytes.begin(), r.bytes.begin() + n), r.mode).miss ==
                                                MovStore32Miss::truncated);
  }
}

TEST_CASE("mov_store32: rejected encodings, one row per rule", "[decode][mov_store32]") {
  struct Reject {
    const char* what;
    Bytes bytes;
    CpuMode mode;
    bool apx;
    MovStore32Miss why;
  };
  using M = MovStore32Miss;
  const Reject rows[] = {
      {"66: a 16-bit store", {0x66, 0x89, 0x00}, k64, true, M::prefix},
      {"67: 32-bit addressing in 64-bit mode", {0x67, 0x89, 0x00}, k64, true, M::prefix},
      {"F0 LOCK (#UD on MOV)", {0xF0, 0x89, 0x00}, k64, true, M::prefix},
      {"F2", {0xF2, 0x89, 0x00}, k64, true, M::prefix},
      {"F3", {0xF3, 0xC7, 0x00, 0, 0, 0, 0}, k64, true, M::prefix},
      {"2E segment override", {0x2E, 0x89, 0x00}, k64, true, M::prefix},
      {"26 segment override", {0x26, 0x89, 0x00}, k32, true, M::prefix},
      {"36 segment override", {0x36, 0x89, 0x00}, k32, true, M::prefix},
      {"3E segment override", {0x3E, 0x89, 0x00}, k64, true, M::prefix},
      {"64 FS override", {0x64, 0x89, 0x00}, k64, true, M::prefix},
      {"65 GS override", {0x65, 0x89, 0x00}, k64, true, M::prefix},
      {"66 then REX", {0x66, 0x41, 0x89, 0x00}, k64, true, M::prefix},
      {"REX then 66 (REX not next to the opcode)", {0x41, 0x66, 0x89, 0x00}, k64, true, M::prefix},
      {"two REX", {0x40, 0x41, 0x89, 0x00}, k64, true, M::prefix},
      {"REX then REX2", {0x41, 0xD5, 0x00, 0x89, 0x00}, k64, true, M::prefix},
      {"REX2 then a legacy prefix", {0xD5, 0x00, 0x66, 0x89, 0x00}, k64, true, M::prefix},
      {"REX.W: a 64-bit store", {0x48, 0x89, 0x00}, k64, true, M::rex_w},
      {"REX.W+R+B", {0x4D, 0x89, 0x00}, k64, true, M::rex_w},
      {"REX.W on C7", {0x48, 0xC7, 0x00, 0, 0, 0, 0}, k64, true, M::rex_w},
      {"REX2.W", {0xD5, 0x08, 0x89, 0x00}, k64, true, M::rex_w},
      {"REX2.M0: the 0F map (0F 89 is JNS)", {0xD5, 0x80, 0x89, 0x00}, k64, true, M::rex2_map},
      {"REX2 without APX (#UD)", {0xD5, 0x00, 0x89, 0x00}, k64, false, M::rex2_disabled},
      {"REX2 R4 without APX", {0xD5, 0x40, 0x89, 0x00}, k64, false, M::rex2_disabled},
      {"mod=11: mov eax, eax", {0x89, 0xC0}, k64, true, M::register_destination},
      {"mod=11 with REX", {0x41, 0x89, 0xC3}, k64, true, M::register_destination},
      {"C7 mod=11: mov eax, imm32", {0xC7, 0xC0, 0, 0, 0, 0}, k64, true, M::register_destination},
      {"C7 F8: XBEGIN", {0xC7, 0xF8, 0, 0, 0, 0}, k64, true, M::register_destination},
      {"C7 /1 (not MOV)", {0xC7, 0x08, 0, 0, 0, 0}, k64, true, M::c7_not_mov},
      {"C7 /7", {0xC7, 0x38, 0, 0, 0, 0}, k32, true, M::c7_not_mov},
      {"88: an 8-bit store", {0x88, 0x00}, k64, true, M::opcode},
      {"8B: a load", {0x8B, 0x00}, k64, true, M::opcode},
      {"C6: MOV m8, imm8", {0xC6, 0x00, 0x00}, k64, true, M::opcode},
      {"01: ADD m32, r32", {0x01, 0x00}, k64, true, M::opcode},
      {"87: XCHG", {0x87, 0x00}, k64, true, M::opcode},
      {"0F escape", {0x0F, 0x89, 0x00, 0, 0, 0}, k64, true, M::opcode},
      {"A3: MOV moffs32, EAX (no ModRM)", {0xA3, 0, 0, 0, 0, 0, 0, 0, 0}, k64, true, M::opcode},
      {"REX then another opcode", {0x41, 0x8B, 0x03}, k64, true, M::opcode},
      {"32-bit: 41 is INC ECX, not REX", {0x41, 0x89, 0x03}, k32, true, M::opcode},
      {"32-bit: D5 is AAD, not REX2", {0xD5, 0x00, 0x89, 0x00}, k32, true, M::opcode},
      {"16-bit code", {0x89, 0x00}, k16, true, M::mode},
      {"16-bit code, C7", {0xC7, 0x00, 0, 0}, k16, true, M::mode},
      {"empty", {}, k64, true, M::truncated},
      {"opcode only", {0x89}, k64, true, M::truncated},
      {"REX only", {0x41}, k64, true, M::truncated},
      {"REX2 byte only", {0xD5}, k64, true, M::truncated},
      {"REX2 without opcode", {0xD5, 0x00}, k64, true, M::truncated},
      {"SIB missing", {0x89, 0x04}, k64, true, M::truncated},
      {"disp8 missing", {0x89, 0x45}, k64, true, M::truncated},
      {"disp32 cut", {0x89, 0x85, 0, 0, 0}, k64, true, M::truncated},
      {"SIB base=101 disp32 cut", {0x89, 0x04, 0x25, 0, 0, 0}, k64, true, M::truncated},
      {"imm32 cut", {0xC7, 0x00, 0, 0, 0}, k64, true, M::truncated},
      {"imm32 cut after disp32", {0xC7, 0x05, 0, 0, 0, 0, 0, 0, 0}, k32, true, M::truncated},
  };
  for (const Reject& r : rows) {
    INFO(r.what << ": " << hex(r.bytes.data(), r.bytes.size()) << " (mode " << static_cast<int>(r.mode) << ", apx "
                << r.apx << ")");
    const MovStore32 m = match(r.bytes, r.mode, r.apx);
    CHECK(m.miss == r.why);
    CHECK(m.length == 0);
    CHECK(std::string(decode::mov_store32_miss_text(m.miss)) != "?");
  }
}

// ---- differential: the fast recogniser against the full decoder ------------------------------

namespace {

// What the full decoder says, reduced to the fast path's question: a MOV with a 32-bit
// memory destination and a 32-bit GPR or imm32 source (for `load`: a 32-bit GPR destination
// and a 32-bit memory source).
struct Truth {
  bool store32 = false;
  unsigned length = 0;
  bool immediate = false;
  unsigned reg = 0;
  uint32_t imm = 0;
};

Truth truth(const decode::Instruction& insn, bool load) {
  Truth t;
  if (!insn.ok() || !insn.emulatable() || insn.mnemonic != decode::zy(ZYDIS_MNEMONIC_MOV) || insn.operand_count < 2)
    return t;
  const decode::Operand& dst = insn.operands[0];
  const decode::Operand& src = insn.operands[1];
  if (load) {
    if (dst.kind == decode::OperandKind::reg && dst.reg.is_gpr() && dst.reg.bits == 32 && !dst.reg.high8 &&
        src.kind == decode::OperandKind::mem && src.mem.kind == decode::MemKind::data && src.bits == 32 &&
        (src.access & decode::access_read)) {
      t.store32 = true;
      t.reg = dst.reg.num;
      t.length = insn.length;
    }
    return t;
  }
  if (dst.kind != decode::OperandKind::mem || dst.mem.kind != decode::MemKind::data || dst.bits != 32 ||
      !(dst.access & decode::access_write))
    return t;
  if (src.kind == decode::OperandKind::reg && src.reg.is_gpr() && src.reg.bits == 32 && !src.reg.high8) {
    t.reg = src.reg.num;
  } else if (src.kind == decode::OperandKind::imm && src.imm.bytes == 4) {
    t.immediate = true;
    t.imm = static_cast<uint32_t>(src.imm.value);
  } else {
    return t;
  }
  t.store32 = true;
  t.length = insn.length;
  return t;
}

struct Totals {
  unsigned long encodings = 0, accepted = 0, stores_rejected_by_policy = 0;
};

// One encoding, `n` bytes of `b` (the buffer holds at least 15). `plain`: no legacy prefix,
// no REX.W/REX2.W/M0, at most one REX or REX2: a store the decoder recognises there must be
// accepted too.
MovStore32 match_either(const uint8_t* b, size_t n, CpuMode mode, bool apx, bool load) {
  return load ? decode::match_mov_load32(b, n, mode, apx) : decode::match_mov_store32(b, n, mode, apx);
}

void compare(const uint8_t* b, size_t n, CpuMode mode, bool apx, bool plain, bool load, Totals& totals) {
  ++totals.encodings;
  const MovStore32 m = match_either(b, n, mode, apx, load);
  const decode::Instruction insn = decode::decode(b, n, mode, apx);
  const Truth t = truth(insn, load);
  if (m.ok()) {
    ++totals.accepted;
    // Only on failure: building the message for every encoding would dominate the run time.
    if (!t.store32 || t.length != m.length || t.immediate != m.immediate || (!m.immediate && t.reg != m.reg) ||
        (m.immediate && t.imm != m.imm)) {
      FAIL_CHECK("accepted, but the full decoder disagrees: " << hex(b, 15) << " mode " << static_cast<int>(mode)
                 << " apx " << apx << ": fast length " << unsigned(m.length) << " imm " << m.immediate << " reg "
                 << unsigned(m.reg) << " imm32 " << m.imm << "; decoder: store32 " << t.store32 << " length "
                 << t.length << " imm " << t.immediate << " reg " << t.reg << " imm32 " << t.imm << " ("
                 << decode_test::text(insn) << ")");
    }
    // Every shorter window of the same bytes is "truncated".
    for (size_t k = 0; k < m.length; ++k)
      if (match_either(b, k, mode, apx, load).miss != MovStore32Miss::truncated)
        FAIL_CHECK("a " << k << "-byte prefix of " << hex(b, m.length) << " is not 'truncated'");
    return;
  }
  if (t.store32) {
    if (plain)
      FAIL_CHECK("a plain 32-bit MOV store the fast path declines (" << decode::mov_store32_miss_text(m.miss)
                 << "): " << hex(b, t.length) << " mode " << static_cast<int>(mode) << " apx " << apx << " ("
                 << decode_test::text(insn) << ")");
    ++totals.stores_rejected_by_policy;
  }
}

// Fills `buf` with `head` then a recognisable filler (displacement and immediate bytes).
void fill(uint8_t* buf, const Bytes& head) {
  for (size_t i = 0; i < 15; ++i) buf[i] = static_cast<uint8_t>(0xA1 + 0x13 * i);
  for (size_t i = 0; i < head.size(); ++i) buf[i] = head[i];
}

// All ModRM bytes after `prefix opcode`; where a SIB follows, every SIB byte in `sibs`.
void sweep(const Bytes& prefix, uint8_t opcode, const Bytes& sibs, CpuMode mode, bool apx, bool plain, bool load,
           Totals& totals) {
  uint8_t buf[16];
  for (unsigned modrm = 0; modrm < 256; ++modrm) {
    Bytes head = prefix;
    head.push_back(opcode);
    head.push_back(static_cast<uint8_t>(modrm));
    const bool has_sib = (modrm >> 6) != 3 && (modrm & 7) == 4;
    if (!has_sib) {
      fill(buf, head);
      compare(buf, 15, mode, apx, plain, load, totals);
      continue;
    }
    for (uint8_t sib : sibs) {
      Bytes h = head;
      h.push_back(sib);
      fill(buf, h);
      compare(buf, 15, mode, apx, plain, load, totals);
    }
  }
}

Bytes all_bytes() {
  Bytes b;
  for (unsigned i = 0; i < 256; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

// The sweeps for the stores (89, C7 /0) or, with `load`, the load (8B).
Totals differential(bool load) {
  struct ModeCase {
    CpuMode mode;
    bool apx;
  };
  const ModeCase modes[] = {{k64, true}, {k64, false}, {k32, true}, {k32, false}};
  const Bytes ops = load ? Bytes{0x8B} : Bytes{0x89, 0xC7};
  const Bytes every_sib = all_bytes();
  // SIB bytes for the wider sweeps: base 100/101 (RSP, no-base/RBP), index 100 (none), scales.
  const Bytes some_sibs = {0x24, 0x25, 0x20, 0x65, 0xE5, 0x00, 0x8D, 0xA4, 0x3C};
  Totals totals;
  for (const ModeCase& mc : modes) {
    const bool long_mode = mc.mode == k64;
    // 1. The opcodes, every ModRM and every SIB, with no prefix and with each REX.
    for (unsigned rex = 0; rex <= (long_mode ? 16u : 0u); ++rex) {
      const Bytes prefix = rex == 0 ? Bytes{} : Bytes{static_cast<uint8_t>(0x40 + rex - 1)};
      const bool plain = rex == 0 || !((0x40 + rex - 1) & 0x08);
      for (uint8_t op : ops) sweep(prefix, op, every_sib, mc.mode, mc.apx, plain, load, totals);
    }
    // 2. Every REX2 payload (M0, R4, X4, B4, W, R3, X3, B3), every ModRM, some SIBs.
    for (unsigned payload = 0; payload < 256; ++payload) {
      const bool plain = mc.apx && long_mode && !(payload & 0x88);
      for (uint8_t op : ops) sweep({0xD5, static_cast<uint8_t>(payload)}, op, some_sibs, mc.mode, mc.apx, plain, load, totals);
    }
    // 3. Every first opcode byte (prefix bytes included), bare and after REX 41/44/48. Other
    //    MOVs with memory (A1/A3: moffs, which have no ModRM) are declined by design.
    for (unsigned op = 0; op < 256; ++op)
      for (const Bytes& prefix : {Bytes{}, Bytes{0x41}, Bytes{0x44}, Bytes{0x48}}) {
        bool listed = false;
        for (uint8_t o : ops) listed |= o == op;
        const bool plain = listed && (prefix.empty() || prefix[0] != 0x48);
        sweep(prefix, static_cast<uint8_t>(op), {0x25, 0x24}, mc.mode, mc.apx, plain, load, totals);
      }
    // 4. Legacy prefixes and prefix combinations the fast path declines by policy.
    const Bytes others[] = {{0x26}, {0x2E}, {0x36}, {0x3E}, {0x64}, {0x65}, {0x66}, {0x67}, {0xF0}, {0xF2},
                            {0xF3}, {0x66, 0x41}, {0x41, 0x66}, {0x40, 0x41}, {0x41, 0xD5, 0x00}, {0xF3, 0x48},
                            {0x2E, 0xD5, 0x00}, {0xD5, 0x00, 0x66}, {0x66, 0x66}};
    for (const Bytes& prefix : others)
      for (uint8_t op : ops) sweep(prefix, op, some_sibs, mc.mode, mc.apx, false, load, totals);
  }
  return totals;
}

}  // namespace

TEST_CASE("mov_store32: agrees with the full decoder on every encoding it accepts", "[decode][mov_store32][diff]") {
  const Totals totals = differential(false);
  INFO("encodings " << totals.encodings << ", accepted " << totals.accepted << ", 32-bit stores declined by policy "
                    << totals.stores_rejected_by_policy);
  // The sweep must actually exercise both sides (a recogniser that accepts nothing agrees
  // with everything).
  CHECK(totals.encodings > 1000000);
  CHECK(totals.accepted > 100000);
  CHECK(totals.stores_rejected_by_policy > 1000);
  WARN("mov_store32 differential: " << totals.encodings << " encodings, " << totals.accepted << " accepted, "
                                    << totals.stores_rejected_by_policy << " 32-bit stores declined by policy");
}

TEST_CASE("mov_load32: agrees with the full decoder on every encoding it accepts", "[decode][mov_store32][diff]") {
  const Totals totals = differential(true);
  INFO("encodings " << totals.encodings << ", accepted " << totals.accepted << ", 32-bit loads declined by policy "
                    << totals.stores_rejected_by_policy);
  CHECK(totals.encodings > 500000);
  CHECK(totals.accepted > 50000);
  CHECK(totals.stores_rejected_by_policy > 500);
  WARN("mov_load32 differential: " << totals.encodings << " encodings, " << totals.accepted << " accepted, "
                                   << totals.stores_rejected_by_policy << " 32-bit loads declined by policy");
}

TEST_CASE("mov_load32: the load form, and what it declines", "[decode][mov_store32]") {
  struct Row {
    const char* what;
    Bytes bytes;
    CpuMode mode;
    MovStore32Miss why;
    unsigned length;
    unsigned reg;
  };
  const Row rows[] = {
      {"mov eax, [rdi+0xa0] (Linux's apic_read of PPR)", {0x8B, 0x87, 0xA0, 0, 0, 0}, k64, MovStore32Miss::none, 6, 0},
      {"mov eax, [r11]: REX.B", {0x41, 0x8B, 0x03}, k64, MovStore32Miss::none, 3, 0},
      {"mov r9d, [rip+d32]: REX.R", {0x44, 0x8B, 0x0D, 1, 2, 3, 4}, k64, MovStore32Miss::none, 7, 9},
      {"mov r16d, [rax]: REX2.R4", {0xD5, 0x40, 0x8B, 0x00}, k64, MovStore32Miss::none, 4, 16},
      {"mov edx, [0xfee00390]: 32-bit mode disp32", {0x8B, 0x15, 0x90, 0x03, 0xE0, 0xFE}, k32, MovStore32Miss::none, 6, 2},
      {"mov eax, ecx: a register source", {0x8B, 0xC1}, k64, MovStore32Miss::register_destination, 0, 0},
      {"mov rax, [rdi]: REX.W", {0x48, 0x8B, 0x07}, k64, MovStore32Miss::rex_w, 0, 0},
      {"a store is not a load", {0x89, 0x07}, k64, MovStore32Miss::opcode, 0, 0},
      {"mov ax, [rdi]: 66 prefix", {0x66, 0x8B, 0x07}, k64, MovStore32Miss::prefix, 0, 0},
      {"16-bit code", {0x8B, 0x07}, k16, MovStore32Miss::mode, 0, 0},
      {"truncated after the ModRM", {0x8B, 0x87, 0xA0}, k64, MovStore32Miss::truncated, 0, 0},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    const MovStore32 m = decode::match_mov_load32(r.bytes.data(), r.bytes.size(), r.mode, true);
    CHECK(m.miss == r.why);
    CHECK(m.length == r.length);
    if (m.ok()) {
      CHECK(m.reg == r.reg);
      CHECK_FALSE(m.immediate);
    }
  }
}
