#include "decode/map4.hpp"

#include "decode/reject.hpp"
#include "decode/widen.hpp"
#include "decode/zydis_bridge.hpp"

#include <Zydis/Mnemonic.h>

namespace decode {
namespace {

enum Pp : uint8_t { PP_NONE_66, PP_NONE, PP_66, PP_F3, PP_F2, PP_ANY };
enum Escape : uint8_t { ESC_NONE, ESC_0F, ESC_0F38, ESC_0F3A };
enum Kind : uint8_t { plain, ccmp, ctest, cmov, setcc, push2, pop2, movbe, rao, reserved };
enum Ndd : uint8_t { NDD_NO, NDD_DEST, NDD_ZU, NDD_MUST };
constexpr int8_t ANY_REG = -1;

struct Row {
  uint8_t opcode;
  Pp pp;
  int8_t reg;
  uint8_t prefix;
  Escape escape;
  uint8_t legacy;
  Kind kind;
  Ndd ndd;
  bool nf;
};

constexpr Row kRows[] = {
#define MAP4(opcode, pp, reg, prefix, escape, legacy, kind, ndd, nf) \
  {opcode, pp, reg, prefix, escape, legacy, kind, ndd, nf != 0},
#include "decode/map4_table.def"
#undef MAP4
};

bool pp_matches(Pp want, uint8_t pp) {
  switch (want) {
    case PP_NONE_66: return pp <= 1;
    case PP_NONE: return pp == 0;
    case PP_66: return pp == 1;
    case PP_F3: return pp == 2;
    case PP_F2: return pp == 3;
    case PP_ANY: return true;
  }
  return false;
}

// 40-4F share one row per pp: the condition code is the opcode's low nibble.
const Row* find_row(uint8_t opcode, uint8_t pp, uint8_t reg) {
  const uint8_t key = (opcode & 0xF0) == 0x40 ? 0x40 : opcode;
  for (const Row& r : kRows) {
    if (r.opcode == key && pp_matches(r.pp, pp) && (r.reg == ANY_REG || r.reg == reg)) return &r;
  }
  return nullptr;
}

// Inserts the EVEX.vvvv register (V4:vvvv) as operand 0: the NDD destination, or the first
// register of PUSH2/POP2.
void insert_vvvv(Instruction& out, const Evex& e, uint16_t bits, uint8_t access) {
  if (out.operand_count >= kMaxOperands) return;
  for (unsigned i = out.operand_count; i > 0; --i) out.operands[i] = out.operands[i - 1];
  ++out.operand_count;
  Operand& d = out.operands[0];
  d = Operand{};
  d.kind = OperandKind::reg;
  d.field = Field::vvvv;
  d.access = access;
  d.bits = bits;
  d.reg.cls = RegClass::gpr;
  d.reg.num = e.vvvv;
  d.reg.bits = bits;
}

}  // namespace

void decode_map4(const uint8_t* bytes, size_t available, const PrefixScan& scan, const Evex& e, Instruction& out) {
  const size_t at = scan.end;
  // EVEX may follow only segment and 67 prefixes (SDM Vol. 2 §2.7.1, as for VEX).
  if (scan.prefixes.lock || scan.prefixes.opsize || scan.prefixes.rep || scan.prefixes.repne) {
    return reject(out, Reason::illegal_prefix, at + 1);
  }
  if (scan.prefixes.rex) return reject(out, Reason::illegal_rex, at + 1);
  const uint8_t opcode = bytes[at + 4];
  if (available < at + 6) return reject(out, Reason::truncated, available);
  const uint8_t modrm = bytes[at + 5];
  const Row* row = find_row(opcode, e.pp, (modrm >> 3) & 7);
  if (!row || row->kind == reserved) return reject(out, Reason::evex_apx_reserved, at + 6);
  // Map-4 forms use neither masking, vector length nor zeroing (spec §2: L'L, z, aaa).
  if (e.ll != 0 || e.z != 0) return reject(out, Reason::evex_apx_malformed, at + 6);
  const bool scc_form = row->kind == ccmp || row->kind == ctest;
  if (scc_form ? e.nd : (e.aaa & 3) != 0) return reject(out, Reason::evex_apx_malformed, at + 6);
  if (!scc_form && e.nf && !row->nf) return reject(out, Reason::evex_apx_malformed, at + 6);
  if (e.nd && row->ndd == NDD_NO) return reject(out, Reason::evex_apx_malformed, at + 6);
  if (row->ndd == NDD_MUST && (!e.nd || (modrm >> 6) != 3)) return reject(out, Reason::evex_apx_malformed, at + 6);
  // Without a vvvv operand (no NDD, not PUSH2/POP2, not the DFV of CCMP/CTEST), EVEX.V4:vvvv
  // must be 0 (encoded 1 1111b) (spec §2). As with REX.W, W=1 overrides a 66 operand size.
  const bool uses_vvvv = scc_form || row->ndd == NDD_MUST || (e.nd && row->ndd == NDD_DEST);
  if (!uses_vvvv && e.vvvv != 0) return reject(out, Reason::evex_apx_malformed, at + 6);

  const bool register_form = (modrm >> 6) == 3;
  // The legacy encoding: segment/67 prefixes, the row's mandatory prefix, 66 for pp=66 where it
  // is an operand size, REX.W/R/X/B, escape bytes, legacy opcode, then ModRM onwards unchanged.
  uint8_t buf[2 * kMaxInstructionLength + 8];
  size_t n = 0;
  for (size_t i = 0; i < at; ++i) buf[n++] = bytes[i];
  if (row->pp == PP_NONE_66 && e.pp == 1) buf[n++] = 0x66;
  if (row->prefix) buf[n++] = row->prefix;
  buf[n++] = static_cast<uint8_t>(0x40 | (e.w << 3) | (e.r3 << 2) | (e.x3 << 1) | e.b3);
  const Escape escape = (row->kind == movbe && register_form) ? ESC_NONE : row->escape;
  if (escape == ESC_0F) buf[n++] = 0x0F;
  if (escape == ESC_0F38 || escape == ESC_0F3A) {
    buf[n++] = 0x0F;
    buf[n++] = escape == ESC_0F38 ? 0x38 : 0x3A;
  }
  uint8_t legacy = row->legacy;
  // MOVBE r, r exists only in EVEX (spec §2): decode it as MOV (8B / 89) and rename it.
  if (row->kind == movbe && register_form) legacy = row->opcode == 0x60 ? 0x8B : 0x89;
  if (row->kind == rao && register_form) return reject(out, Reason::evex_apx_reserved, at + 6);
  if ((opcode & 0xF0) == 0x40) legacy = static_cast<uint8_t>(legacy + (opcode & 15));
  buf[n++] = legacy;
  const size_t head = n;
  for (size_t i = at + 5; i < available && n < sizeof(buf) && i < at + 5 + kMaxInstructionLength; ++i) {
    buf[n++] = bytes[i];
  }
  ZydisOutput z;
  const ZyanStatus st = zydis_decode(buf, n, CpuMode::bits64, false, z, /*mpx=*/false);
  if (!ZYAN_SUCCESS(st)) {
    Reason r = reason_from_zydis(st);
    if (r != Reason::truncated) r = Reason::evex_apx_reserved;
    return reject(out, r, available < kMaxInstructionLength ? available : kMaxInstructionLength);
  }
  const size_t length = at + 5 + (z.insn.length - head);
  if (length > kMaxInstructionLength) return reject(out, Reason::too_long, length);

  convert_from_zydis(z, out);
  out.prefixes = scan.prefixes;
  out.map = 4;
  out.opcode = opcode;
  RegExtension x;
  x.r3 = e.r3; x.r4 = e.r4; x.x3 = e.x3; x.x4 = e.x4; x.b3 = e.b3; x.b4 = e.b4;
  x.v4 = (e.vvvv >> 4) & 1;
  widen_registers(out, x);

  const uint16_t size = out.operand_bits;
  switch (row->kind) {
    case ccmp: out.mnemonic = Mnemonic::ccmp; break;
    case ctest: out.mnemonic = Mnemonic::ctest; break;
    case cmov:
      if (!e.nd || e.nf) out.mnemonic = Mnemonic::cfcmov;  // ND=1 NF=0 stays CMOVcc
      if (!e.nd && e.nf && out.operand_count >= 2) {
        // CFCMOVcc r/m, r: the store form writes r/m (NF selects the direction).
        const Operand t = out.operands[0];
        out.operands[0] = out.operands[1];
        out.operands[1] = t;
        out.operands[0].access = access_cond_write;
        out.operands[1].access = access_read;
      }
      if (e.nd) insert_vvvv(out, e, size, access_write);
      break;
    case setcc:
      if (e.nd) out.mnemonic = Mnemonic::setzu;  // ND=1: zero the upper bits (SETZUcc)
      break;
    case push2:
    case pop2:
      out.mnemonic = row->kind == push2 ? (e.w ? Mnemonic::push2p : Mnemonic::push2)
                                        : (e.w ? Mnemonic::pop2p : Mnemonic::pop2);
      insert_vvvv(out, e, 64, row->kind == push2 ? access_read : access_write);
      break;
    case plain:
      if (e.nd && row->ndd == NDD_DEST) insert_vvvv(out, e, size, access_write);
      break;
    case movbe:
      out.mnemonic = zy(ZYDIS_MNEMONIC_MOVBE);
      break;
    case rao: {
      static constexpr Mnemonic kRao[4] = {Mnemonic::aadd, Mnemonic::aand, Mnemonic::axor, Mnemonic::aor};
      out.mnemonic = kRao[e.pp & 3];
      if (out.operand_count) out.operands[0].access = access_read | access_write;
      break;
    }
    case reserved:
      break;
  }
  out.fault = Fault::none;
  out.reason = Reason::ok;
  out.length = static_cast<uint8_t>(length);
}

}  // namespace decode
