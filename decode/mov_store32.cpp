// match_mov_store32(): see mov_store32.hpp for what is accepted and why.
#include "decode/mov_store32.hpp"

namespace decode {

namespace {

constexpr uint8_t kOpMovStore = 0x89;  // MOV r/m32, r32 (SDM Vol 2B MOV)
constexpr uint8_t kOpMovImm = 0xC7;    // MOV r/m32, imm32 is C7 /0
constexpr uint8_t kOpMovLoad = 0x8B;   // MOV r32, r/m32
constexpr uint8_t kRex2 = 0xD5;        // APX spec 1.1 (AAD outside 64-bit mode)

// REX2 payload bits (APX spec 1.1): M0 R4 X4 B4 W R3 X3 B3, most significant first.
constexpr uint8_t kRex2M0 = 0x80, kRex2R4 = 0x40, kRex2W = 0x08, kRex2R3 = 0x04;
constexpr uint8_t kRexW = 0x08, kRexR = 0x04;

// Bytes that are prefixes before an opcode (SDM Vol 2A 2.1.1): operand/address size, LOCK,
// REP/REPNE, the six segment overrides; in 64-bit mode also REX and REX2.
bool prefix_byte(uint8_t b, bool long_mode) {
  switch (b) {
    case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65:
    case 0x66: case 0x67: case 0xF0: case 0xF2: case 0xF3:
      return true;
    default:
      return long_mode && ((b & 0xF0) == 0x40 || b == kRex2);
  }
}

MovStore32 miss(MovStore32Miss why) {
  MovStore32 m;
  m.miss = why;
  return m;
}

}  // namespace

const char* mov_store32_miss_text(MovStore32Miss why) {
  switch (why) {
    case MovStore32Miss::none: return "matched";
    case MovStore32Miss::truncated: return "truncated";
    case MovStore32Miss::mode: return "16-bit code";
    case MovStore32Miss::prefix: return "a prefix other than one REX/REX2 before the opcode";
    case MovStore32Miss::rex_w: return "REX.W/REX2.W (64-bit store)";
    case MovStore32Miss::rex2_map: return "REX2.M0=1 (0F map)";
    case MovStore32Miss::rex2_disabled: return "REX2 with the guest's XCR0.APX clear";
    case MovStore32Miss::opcode: return "not the MOV opcode (89 or C7; 8B for a load)";
    case MovStore32Miss::register_destination: return "ModRM.mod=11 (register operand, not memory)";
    case MovStore32Miss::c7_not_mov: return "C7 with ModRM.reg != 0";
  }
  return "?";
}

namespace {

// Both recognisers: `load` accepts 8B only, else 89 and C7 /0.
MovStore32 match_mov32(const uint8_t* bytes, size_t available, CpuMode mode, bool apx, bool load) {
  if (mode == CpuMode::bits16) return miss(MovStore32Miss::mode);
  const bool long_mode = mode == CpuMode::bits64;
  size_t at = 0;
  auto need = [&](size_t n) { return at + n <= available; };

  // The register-field extension from REX.R or REX2.R3/R4 (SDM Vol 2A 2.2.1.2; APX spec 1.1).
  uint8_t reg_high = 0;
  if (!need(1)) return miss(MovStore32Miss::truncated);
  if (long_mode && (bytes[0] & 0xF0) == 0x40) {
    if (bytes[0] & kRexW) return miss(MovStore32Miss::rex_w);
    if (bytes[0] & kRexR) reg_high = 8;
    at = 1;
  } else if (long_mode && bytes[0] == kRex2) {
    if (!apx) return miss(MovStore32Miss::rex2_disabled);
    if (!need(2)) return miss(MovStore32Miss::truncated);
    const uint8_t p = bytes[1];
    if (p & kRex2M0) return miss(MovStore32Miss::rex2_map);
    if (p & kRex2W) return miss(MovStore32Miss::rex_w);
    reg_high = static_cast<uint8_t>(((p & kRex2R3) ? 8 : 0) | ((p & kRex2R4) ? 16 : 0));
    at = 2;
  }

  if (!need(1)) return miss(MovStore32Miss::truncated);
  const uint8_t opcode = bytes[at++];
  if (load ? opcode != kOpMovLoad : (opcode != kOpMovStore && opcode != kOpMovImm))
    return miss(prefix_byte(opcode, long_mode) ? MovStore32Miss::prefix : MovStore32Miss::opcode);

  if (!need(1)) return miss(MovStore32Miss::truncated);
  const uint8_t modrm = bytes[at++];
  const unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
  if (mod == 3) return miss(MovStore32Miss::register_destination);
  // C7's reg field is an opcode extension; REX.R/REX2.R3/R4 are ignored there (SDM Vol 2A
  // 2.2.1.2: REX.R "is ignored when ModR/M specifies other registers or defines an extended
  // opcode").
  if (opcode == kOpMovImm && reg != 0) return miss(MovStore32Miss::c7_not_mov);

  // SDM Vol 2A Table 2-2 (32-bit addressing; 64-bit addressing has the same layout, 2.2.1.3
  // and Table 2-7): r/m=100 → SIB; mod=01 → disp8; mod=10 → disp32; mod=00 r/m=101 → disp32
  // (RIP-relative in 64-bit mode); mod=00 with SIB.base=101 → disp32 and no base (Table 2-3).
  size_t disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
  if (rm == 4) {
    if (!need(1)) return miss(MovStore32Miss::truncated);
    const uint8_t sib = bytes[at++];
    if (mod == 0 && (sib & 7) == 5) disp = 4;
  } else if (mod == 0 && rm == 5) {
    disp = 4;
  }
  at += disp;

  MovStore32 m;
  if (opcode == kOpMovImm) {
    if (!need(4)) return miss(MovStore32Miss::truncated);
    m.immediate = true;
    m.imm = static_cast<uint32_t>(bytes[at]) | static_cast<uint32_t>(bytes[at + 1]) << 8 |
            static_cast<uint32_t>(bytes[at + 2]) << 16 | static_cast<uint32_t>(bytes[at + 3]) << 24;
    at += 4;
  } else {
    if (!need(0)) return miss(MovStore32Miss::truncated);
    m.reg = static_cast<uint8_t>(reg | reg_high);
  }
  m.miss = MovStore32Miss::none;
  m.length = static_cast<uint8_t>(at);
  return m;
}

}  // namespace

MovStore32 match_mov_store32(const uint8_t* bytes, size_t available, CpuMode mode, bool apx) {
  return match_mov32(bytes, available, mode, apx, false);
}

MovStore32 match_mov_load32(const uint8_t* bytes, size_t available, CpuMode mode, bool apx) {
  return match_mov32(bytes, available, mode, apx, true);
}

}  // namespace decode
