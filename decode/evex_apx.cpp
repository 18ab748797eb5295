// EVEX in 64-bit mode (spec §2). Zydis 4.0.0 knows classic AVX-512 EVEX but none of APX's
// additions, so every APX form is decoded, like REX2, through an equivalent encoding Zydis
// does know, and the register numbers are widened afterwards (decode/widen.hpp):
//   * map 4 (promoted legacy integer instructions): the legacy encoding with a REX
//     (decode/map4.cpp, table decode/map4_table.def);
//   * B4/X4 set, or R4/V4 on a GPR: the same EVEX with those bits cleared (AVX-512 forms), or,
//     failing that, the VEX encoding of a VEX-only instruction promoted to EVEX (BMI, KMOV, AMX,
//     CMPccXADD).
#include "decode/evex_apx.hpp"

#include "decode/cmpccxadd.hpp"
#include "decode/map4.hpp"
#include "decode/reject.hpp"
#include "decode/widen.hpp"
#include "decode/zydis_bridge.hpp"

#include <Zydis/Mnemonic.h>

namespace decode {
namespace {

// P0 = R X B R4' B4 m m m, P1 = W v v v v X4' p p, P2 = z L' L b V4' a a a (spec §2 table;
// primes mark inverted bits).
Evex parse_evex(uint8_t p0, uint8_t p1, uint8_t p2) {
  Evex e;
  e.present = true;
  e.p0 = p0;
  e.p1 = p1;
  e.p2 = p2;
  e.map = p0 & 7;
  e.r3 = ((p0 >> 7) & 1) ^ 1;
  e.x3 = ((p0 >> 6) & 1) ^ 1;
  e.b3 = ((p0 >> 5) & 1) ^ 1;
  e.r4 = ((p0 >> 4) & 1) ^ 1;
  e.b4 = (p0 >> 3) & 1;  // positive polarity (spec §2)
  e.w = (p1 >> 7) & 1;
  const uint8_t v4 = ((p2 >> 3) & 1) ^ 1;
  e.vvvv = static_cast<uint8_t>((v4 << 4) | ((~p1 >> 3) & 15));
  e.x4 = ((p1 >> 2) & 1) ^ 1;
  e.pp = p1 & 3;
  e.z = (p2 >> 7) & 1;
  e.ll = (p2 >> 5) & 3;
  e.b = (p2 >> 4) & 1;
  e.aaa = p2 & 7;
  e.nd = e.b;
  e.nf = (p2 >> 2) & 1;
  e.scc = p2 & 15;
  e.dfv = (p1 >> 3) & 15;  // CCMP/CTEST: OF SF ZF CF, as encoded
  return e;
}

RegExtension extension_of(const Evex& e) {
  RegExtension x;
  x.r3 = e.r3;
  x.r4 = e.r4;
  x.x3 = e.x3;
  x.x4 = e.x4;
  x.b3 = e.b3;
  x.b4 = e.b4;
  x.v4 = (e.vvvv >> 4) & 1;
  return x;
}

bool has_vector_register(const Instruction& insn) {
  for (unsigned i = 0; i < insn.operand_count; ++i) {
    const Operand& op = insn.operands[i];
    if (op.kind == OperandKind::reg &&
        (op.reg.cls == RegClass::xmm || op.reg.cls == RegClass::ymm || op.reg.cls == RegClass::zmm)) {
      return true;
    }
  }
  return false;
}

// EVEX.NF is defined for the promoted VEX instructions that write flags (spec §2, NF).
bool nf_allowed_vex_promoted(Mnemonic m) {
  switch (static_cast<unsigned>(m)) {
    case ZYDIS_MNEMONIC_ANDN: case ZYDIS_MNEMONIC_BEXTR: case ZYDIS_MNEMONIC_BLSI:
    case ZYDIS_MNEMONIC_BLSMSK: case ZYDIS_MNEMONIC_BLSR: case ZYDIS_MNEMONIC_BZHI:
      return true;
    default:
      return false;
  }
}

bool gpr_operand_in(const Instruction& insn, Field f) {
  for (unsigned i = 0; i < insn.operand_count; ++i) {
    const Operand& op = insn.operands[i];
    if (op.kind == OperandKind::reg && op.field == f && op.reg.is_gpr()) return true;
  }
  return false;
}

// Copy of the instruction bytes (at most 15 + slack) that the rewrites below modify.
struct Buffer {
  uint8_t b[2 * kMaxInstructionLength + 4];
  size_t n = 0;
};

Buffer copy_of(const uint8_t* bytes, size_t available) {
  Buffer buf;
  buf.n = available < sizeof(buf.b) ? available : sizeof(buf.b);
  for (size_t i = 0; i < buf.n; ++i) buf.b[i] = bytes[i];
  return buf;
}

// AVX-512 form: the EVEX with B4 cleared and X4 cleared (U=1), optionally R4/V4 cleared too.
ZyanStatus try_avx512(const uint8_t* bytes, size_t available, size_t at, bool clear_r4, bool clear_v4,
                      ZydisOutput& z) {
  Buffer buf = copy_of(bytes, available);
  buf.b[at + 1] = static_cast<uint8_t>((buf.b[at + 1] & ~0x08) | (clear_r4 ? 0x10 : 0));
  buf.b[at + 2] = static_cast<uint8_t>(buf.b[at + 2] | 0x04);
  if (clear_v4) buf.b[at + 3] = static_cast<uint8_t>(buf.b[at + 3] | 0x08);
  return zydis_decode(buf.b, buf.n, CpuMode::bits64, false, z);
}

// VEX form of a VEX-only instruction promoted to EVEX: C4 [R X B m-mmmm] [W vvvv L pp].
ZyanStatus try_vex(const uint8_t* bytes, size_t available, size_t at, const Evex& e, Buffer& buf,
                   ZydisOutput& z) {
  buf.n = 0;
  for (size_t i = 0; i < at; ++i) buf.b[buf.n++] = bytes[i];
  buf.b[buf.n++] = 0xC4;
  buf.b[buf.n++] = static_cast<uint8_t>((e.p0 & 0xE0) | e.map);
  buf.b[buf.n++] = static_cast<uint8_t>((e.p1 & 0xF8) | ((e.ll & 1) << 2) | e.pp);
  for (size_t i = at + 4; i < available && buf.n < sizeof(buf.b); ++i) buf.b[buf.n++] = bytes[i];
  return zydis_decode(buf.b, buf.n, CpuMode::bits64, false, z);
}

void finish(Instruction& out, const Evex& e, size_t length, bool apx, const Options& o) {
  out.evex = e;
  out.evex.apx = apx;
  out.encoding = Encoding::evex;
  // The VEX rewrite is one byte shorter than the EVEX original: judge the original's length.
  if (length > kMaxInstructionLength) return reject(out, Reason::too_long, length);
  out.length = static_cast<uint8_t>(length);
  if (apx && !o.apx) return reject(out, Reason::evex_apx_disabled, length);
  out.fault = Fault::none;
  out.reason = apx ? Reason::evex_apx_not_emulated : Reason::ok;
}

}  // namespace

bool decode_evex_apx(const uint8_t* bytes, size_t available, const Options& o, const PrefixScan& scan,
                     Instruction& out) {
  // Outside 64-bit mode 62 is BOUND or a classic EVEX: APX does not exist there (spec §1.1).
  if (o.mode != CpuMode::bits64) return false;
  const size_t at = scan.end;
  out.prefixes = scan.prefixes;
  if (at + 5 > kMaxInstructionLength) return reject(out, Reason::too_long, at + 5), true;
  if (available < at + 5) return reject(out, Reason::truncated, available), true;
  const Evex e = parse_evex(bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  out.evex = e;
  out.encoding = Encoding::evex;
  out.map = e.map;
  out.opcode = bytes[at + 4];

  if (e.map == 4) {
    // Map 4 exists only with APX (spec §2): a legacy-promoted instruction.
    if (!o.apx) return reject(out, Reason::evex_apx_disabled, at + 5), true;
    decode_map4(bytes, available, scan, e, out);
    if (out.fault == Fault::none) {
      finish(out, e, out.length, true, o);
      out.evex.form = EvexForm::legacy_promoted;
    }
    return true;
  }

  const bool apx_bits = e.b4 || e.x4;
  ZydisOutput z;
  ZyanStatus st = ZYDIS_STATUS_DECODING_ERROR;
  if (!apx_bits) {
    // A classic EVEX; Zydis rejects a GPR operand named with R4/V4 (BAD_REGISTER).
    st = zydis_decode(bytes, available, CpuMode::bits64, false, z);
    if (ZYAN_SUCCESS(st)) {
      convert_from_zydis(z, out);
      finish(out, e, z.insn.length, false, o);
      return true;
    }
    if (st == ZYDIS_STATUS_NO_MORE_DATA || st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG ||
        st == ZYDIS_STATUS_ILLEGAL_LEGACY_PFX || st == ZYDIS_STATUS_ILLEGAL_REX) {
      return reject(out, reason_from_zydis(st), available), true;
    }
  }
  const Reason classic_reason = reason_from_zydis(st);

  // AVX-512 form with B4/X4 (and, where Zydis wanted them on a GPR, R4/V4) taken out.
  static constexpr bool kClear[4][2] = {{false, false}, {true, false}, {false, true}, {true, true}};
  for (const auto& c : kClear) {
    if ((c[0] && !e.r4) || (c[1] && !(e.vvvv >> 4))) continue;
    if (!apx_bits && !c[0] && !c[1]) continue;  // that is the classic decode above
    st = try_avx512(bytes, available, at, c[0], c[1], z);
    if (st == ZYDIS_STATUS_NO_MORE_DATA) return reject(out, Reason::truncated, available), true;
    if (!ZYAN_SUCCESS(st)) continue;
    convert_from_zydis(z, out);
    // R4/V4 may be dropped only where they named a GPR.
    if (c[0] && !gpr_operand_in(out, Field::modrm_reg)) continue;
    if (c[1] && !gpr_operand_in(out, Field::vvvv)) continue;
    widen_registers(out, extension_of(e));
    finish(out, e, z.insn.length, true, o);
    out.evex.form = EvexForm::avx512;
    return true;
  }

  // A VEX-only instruction promoted to EVEX (BMI1/2, KMOV, AMX, CMPccXADD; EVEX.NF = P2 bit 2).
  // These take no vector length, ND, zeroing or mask bits (spec §2).
  Buffer vex;
  vex.n = 0;
  const bool vex_shape = e.ll == 0 && !e.b && !e.z && (e.aaa & 3) == 0;
  st = vex_shape ? try_vex(bytes, available, at, e, vex, z) : ZYDIS_STATUS_DECODING_ERROR;
  if (ZYAN_SUCCESS(st)) {
    convert_from_zydis(z, out);
  }
  if (ZYAN_SUCCESS(st) && !has_vector_register(out) && (!e.nf || nf_allowed_vex_promoted(out.mnemonic))) {
    widen_registers(out, extension_of(e));
    finish(out, e, z.insn.length + 1u, true, o);
    out.evex.form = EvexForm::vex_promoted;
    out.encoding = Encoding::evex;
    return true;
  }
  if (st == ZYDIS_STATUS_NO_MORE_DATA) return reject(out, Reason::truncated, available), true;
  // CMPccXADD is newer than Zydis 4.0.0 (no NF form).
  if (vex_shape && !e.nf && decode_cmpccxadd(vex.b, vex.n, at, out)) {
    if (out.fault != Fault::none) return true;
    widen_registers(out, extension_of(e));
    finish(out, e, out.length + 1u, true, o);
    out.evex.form = EvexForm::vex_promoted;
    out.encoding = Encoding::evex;
    return true;
  }
  if (!apx_bits) return reject(out, classic_reason, available < 15 ? available : 15), true;
  return reject(out, Reason::evex_apx_reserved, at + 5), true;
}

}  // namespace decode
