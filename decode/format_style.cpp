// LLVM Intel printer conventions (X86IntelInstPrinter, LLVM 19), as observed with
// `llvm-mc-19 --disassemble -output-asm-variant=1` and pinned by tests/decode/llvm_diff.py.
#include "decode/format_style.hpp"

#include <Zydis/DecoderTypes.h>
#include <Zydis/Mnemonic.h>

namespace decode::style {
namespace {

bool is(const Instruction& i, ZydisMnemonic m) { return i.mnemonic == zy(m); }

constexpr const char* kConditionCodes[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                             "s", "ns", "p", "np", "l", "ge", "le", "g"};

// SSE/AVX comparison predicates, folded into the mnemonic when the immediate names one
// (cmpps xmm0, xmm1, 1 -> cmpltps xmm0, xmm1).
constexpr const char* kComparePredicates[32] = {
    "eq",    "lt",    "le",    "unord",   "neq",    "nlt",    "nle",    "ord",
    "eq_uq", "nge",   "ngt",   "false",   "neq_oq", "ge",     "gt",     "true",
    "eq_os", "lt_oq", "le_oq", "unord_s", "neq_us", "nlt_uq", "nle_uq", "ord_s",
    "eq_us", "nge_uq", "ngt_uq", "false_os", "neq_os", "ge_oq", "gt_oq", "true_us"};

struct CompareForm {
  ZydisMnemonic mnemonic;
  const char* head;  // "cmp" / "vcmp"
  const char* tail;  // "ps" / "pd" / "ss" / "sd"
  unsigned limit;    // 8 for SSE, 32 for AVX
};
constexpr CompareForm kCompareForms[] = {
    {ZYDIS_MNEMONIC_CMPPS, "cmp", "ps", 8},     {ZYDIS_MNEMONIC_CMPPD, "cmp", "pd", 8},
    {ZYDIS_MNEMONIC_CMPSS, "cmp", "ss", 8},     {ZYDIS_MNEMONIC_CMPSD, "cmp", "sd", 8},
    {ZYDIS_MNEMONIC_VCMPPS, "vcmp", "ps", 32},  {ZYDIS_MNEMONIC_VCMPPD, "vcmp", "pd", 32},
    {ZYDIS_MNEMONIC_VCMPSS, "vcmp", "ss", 32},  {ZYDIS_MNEMONIC_VCMPSD, "vcmp", "sd", 32},
};

// The immediate operand of a compare whose predicate goes into the mnemonic, else -1.
int folded_compare_imm(const Instruction& insn, const CompareForm** form) {
  for (const CompareForm& f : kCompareForms) {
    if (!is(insn, f.mnemonic)) continue;
    for (unsigned i = 0; i < insn.operand_count; ++i) {
      const Operand& op = insn.operands[i];
      if (op.kind == OperandKind::imm && op.visibility != Visibility::hidden) {
        if (op.imm.value < f.limit) {
          if (form) *form = &f;
          return static_cast<int>(i);
        }
        return -1;
      }
    }
  }
  return -1;
}

// MOV with a 64-bit immediate or a moffs operand is "movabs" in LLVM.
bool is_movabs(const Instruction& insn) {
  if (!is(insn, ZYDIS_MNEMONIC_MOV) || insn.map != 0 || insn.encoding == Encoding::evex) return false;
  if (insn.opcode >= 0xA0 && insn.opcode <= 0xA3) return insn.address_bits == 64;
  if ((insn.opcode & 0xF8) == 0xB8) {
    for (unsigned i = 0; i < insn.operand_count; ++i) {
      if (insn.operands[i].kind == OperandKind::imm && insn.operands[i].imm.bytes == 8) return true;
    }
  }
  return false;
}

// Jcc/SETcc/CMOVcc: LLVM spells the condition from the opcode's low nibble with its own
// names (e, ne, ae, a, ge, g) where Zydis says z, nz, nb, nbe, nl, nle.
const char* condition_family(const Instruction& insn) {
  if (!is_zydis(insn.mnemonic)) return nullptr;
  const char* name = mnemonic_name(insn.mnemonic);
  const bool legacy_map = insn.encoding == Encoding::legacy || insn.encoding == Encoding::rex2;
  if (legacy_map && insn.map == 0 && insn.opcode >= 0x70 && insn.opcode <= 0x7F && name[0] == 'j') return "j";
  if (legacy_map && insn.map == 1 && insn.opcode >= 0x80 && insn.opcode <= 0x8F && name[0] == 'j') return "j";
  if (insn.map == 1 && insn.opcode >= 0x90 && insn.opcode <= 0x9F && name[0] == 's' && name[1] == 'e') return "set";
  if (insn.map == 1 && insn.opcode >= 0x40 && insn.opcode <= 0x4F && name[0] == 'c' && name[1] == 'm') return "cmov";
  if (insn.map == 4 && insn.opcode >= 0x40 && insn.opcode <= 0x4F) {
    if (name[0] == 's' && name[1] == 'e') return "set";
    if (name[0] == 'c' && name[1] == 'm') return "cmov";
  }
  return nullptr;
}

bool is_string_op(const Instruction& insn) {
  return insn.zydis_category == ZYDIS_CATEGORY_STRINGOP || insn.zydis_category == ZYDIS_CATEGORY_IOSTRINGOP;
}

bool is_map4(const Instruction& insn) { return insn.evex.present && insn.evex.map == 4; }

// Map-4 forms that have an identical legacy encoding: LLVM tags them "{evex}" when neither ND
// nor NF is set (X86II::ExplicitEVEXPrefix).
bool map4_has_legacy_twin(const Instruction& insn) {
  switch (static_cast<unsigned>(insn.mnemonic)) {
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD: case ZYDIS_MNEMONIC_IMUL:
    case ZYDIS_MNEMONIC_POPCNT: case ZYDIS_MNEMONIC_TZCNT: case ZYDIS_MNEMONIC_LZCNT:
    case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL: case ZYDIS_MNEMONIC_RCR:
    case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR:
    case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_DIV:
    case ZYDIS_MNEMONIC_IDIV: case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_SETO: case ZYDIS_MNEMONIC_SETNO: case ZYDIS_MNEMONIC_SETB: case ZYDIS_MNEMONIC_SETNB:
    case ZYDIS_MNEMONIC_SETZ: case ZYDIS_MNEMONIC_SETNZ: case ZYDIS_MNEMONIC_SETBE: case ZYDIS_MNEMONIC_SETNBE:
    case ZYDIS_MNEMONIC_SETS: case ZYDIS_MNEMONIC_SETNS: case ZYDIS_MNEMONIC_SETP: case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETL: case ZYDIS_MNEMONIC_SETNL: case ZYDIS_MNEMONIC_SETLE: case ZYDIS_MNEMONIC_SETNLE:
      return true;
    default:
      return false;
  }
}

}  // namespace

void prefix_words(const Instruction& insn, TextSink& out) {
  if (insn.evex.apx && insn.evex.form == EvexForm::vex_promoted && insn.evex.nf) out.put("{nf} ");
  // KMOV k, k in EVEX has a VEX twin, and LLVM marks it "{evex}".
  if (insn.evex.form == EvexForm::vex_promoted && insn.operand_count >= 2 &&
      insn.operands[0].kind == OperandKind::reg && insn.operands[0].reg.cls == RegClass::mask &&
      insn.operands[1].kind == OperandKind::reg && insn.operands[1].reg.cls == RegClass::mask) {
    out.put("{evex} ");
  }
  if (is_map4(insn)) {
    if (insn.evex.nf && insn.mnemonic != Mnemonic::ccmp && insn.mnemonic != Mnemonic::ctest &&
        insn.mnemonic != Mnemonic::cfcmov) {
      out.put("{nf} ");
    } else if (!insn.evex.nd && !insn.evex.nf && map4_has_legacy_twin(insn)) {
      out.put("{evex} ");
    }
  }
  if (insn.prefixes.lock) out.put("lock ");
  // LLVM writes the last F2/F3 on string instructions and, when it is not a mandatory prefix,
  // on any one-byte-map instruction (two-byte-map opcodes absorb it silently).
  const uint8_t rep = insn.prefixes.last_rep;
  const bool one_byte_map = insn.map == 0 && (insn.encoding == Encoding::legacy || insn.encoding == Encoding::rex2);
  if (rep && (is_string_op(insn) || (one_byte_map && rep != insn.prefixes.mandatory))) {
    out.put(rep == 0xF2 ? "repne " : "rep ");
  }
  // A 67 prefix that no written register shows is spelled "addr32": no memory operand, or
  // only an absolute [disp32] one (64-bit mode; "addr16" in 32-bit mode).
  if (insn.prefixes.addrsize && !is_string_op(insn)) {
    bool shown = false;
    for (unsigned i = 0; i < insn.operand_count && i < kMaxOperands; ++i) {
      const Operand& op = insn.operands[i];
      if (op.kind != OperandKind::mem || op.visibility == Visibility::hidden) continue;
      if (op.mem.base.present() || op.mem.index.present() || op.field == Field::disp) shown = true;
    }
    if (!shown) out.put(insn.mode == CpuMode::bits32 ? "addr16 " : "addr32 ");
  }
}

void mnemonic(const Instruction& insn, TextSink& out) {
  switch (insn.mnemonic) {
    case Mnemonic::ccmp:
    case Mnemonic::ctest: {
      out.put(insn.mnemonic == Mnemonic::ccmp ? "ccmp" : "ctest");
      // SCC 0xA/0xB are "t"/"f" (always / never); the rest are the Jcc conditions (spec §2).
      const uint8_t scc = insn.evex.scc & 15;
      out.put(scc == 0xA ? "t" : scc == 0xB ? "f" : kConditionCodes[scc]);
      return;
    }
    case Mnemonic::cfcmov:
      out.put("cfcmov");
      out.put(kConditionCodes[insn.opcode & 15]);
      return;
    case Mnemonic::setzu:
      out.put("setzu");
      out.put(kConditionCodes[insn.opcode & 15]);
      return;
    case Mnemonic::cmpccxadd: {
      // CMPccXADD spells its conditions the SDM's way (z, nb, nbe, nl, nle).
      static const char* const kXaddConditions[16] = {"o", "no", "b",  "nb", "z", "nz", "be", "nbe",
                                                      "s", "ns", "p", "np", "l", "nl", "le", "nle"};
      out.put("cmp");
      out.put(kXaddConditions[insn.opcode & 15]);
      out.put("xadd");
      return;
    }
    default:
      break;
  }
  if (!is_zydis(insn.mnemonic)) {
    out.put(mnemonic_name(insn.mnemonic));
    return;
  }
  if (const char* head = condition_family(insn)) {
    out.put(head);
    out.put(kConditionCodes[insn.opcode & 15]);
    return;
  }
  if (is_movabs(insn)) {
    out.put("movabs");
    return;
  }
  const CompareForm* form = nullptr;
  const int cmp = folded_compare_imm(insn, &form);
  if (cmp >= 0 && form) {
    out.put(form->head);
    out.put(kComparePredicates[insn.operands[cmp].imm.value & 31]);
    out.put(form->tail);
    return;
  }
  if (is_map4(insn) && is(insn, ZYDIS_MNEMONIC_IMUL) && insn.evex.nd && (insn.opcode == 0x69 || insn.opcode == 0x6B)) {
    out.put("imulzu");
    return;
  }
  if (is(insn, ZYDIS_MNEMONIC_FWAIT)) {
    out.put("wait");
    return;
  }
  if (is(insn, ZYDIS_MNEMONIC_FUCOMIP)) {
    out.put("fucompi");
    return;
  }
  if (is(insn, ZYDIS_MNEMONIC_FCOMIP)) {
    out.put("fcompi");
    return;
  }
  if (is(insn, ZYDIS_MNEMONIC_XLAT)) {
    out.put("xlatb");
    return;
  }
  if (is(insn, ZYDIS_MNEMONIC_SYSRET) && insn.operand_bits == 64) {
    out.put("sysretq");
    return;
  }
  if (insn.far_branch && is(insn, ZYDIS_MNEMONIC_RET)) {
    out.put(insn.operand_bits == 64 ? "retfq" : "retf");
    return;
  }
  if (insn.far_branch && (is(insn, ZYDIS_MNEMONIC_CALL) || is(insn, ZYDIS_MNEMONIC_JMP)) &&
      insn.operand_bits == 64) {
    out.put(is(insn, ZYDIS_MNEMONIC_CALL) ? "lcall" : "ljmp");
    return;
  }
  out.put(mnemonic_name(insn.mnemonic));
}

unsigned string_operand_order(const Instruction& insn, int order[3]) {
  if (!is_string_op(insn)) return 0;
  int dst = -1, src = -1, dx = -1, acc = -1;
  for (unsigned i = 0; i < insn.operand_count && i < kMaxOperands; ++i) {
    const Operand& op = insn.operands[i];
    if (op.kind == OperandKind::mem && op.mem.base.is_gpr()) {
      if (op.mem.base.num == 7) dst = static_cast<int>(i);
      if (op.mem.base.num == 6) src = static_cast<int>(i);
    } else if (op.kind == OperandKind::reg && op.reg.is_gpr() && !op.reg.high8) {
      if (op.reg.num == 2 && op.reg.bits == 16) dx = static_cast<int>(i);
      if (op.reg.num == 0) acc = static_cast<int>(i);
    }
  }
  const char* name = mnemonic_name(insn.mnemonic);
  int a = -1, b = -1;
  switch (name[0]) {
    case 'i': a = dst; b = dx; break;                          // insb  es:[rdi], dx
    case 'o': a = dx; b = src; break;                          // outsb dx, [rsi]
    case 'm': a = dst; b = src; break;                         // movsb es:[rdi], [rsi]
    case 'c': a = src; b = dst; break;                         // cmpsb [rsi], es:[rdi]
    case 's': a = name[1] == 'c' ? acc : dst;                  // scasb al, es:[rdi]
              b = name[1] == 'c' ? dst : acc; break;           // stosb es:[rdi], al
    case 'l': a = acc; b = src; break;                         // lodsb al, [rsi]
    default: return 0;
  }
  if (a < 0 || b < 0) return 0;
  order[0] = a;
  order[1] = b;
  return 2;
}

unsigned operand_order(const Instruction& insn, int order[kMaxOperands]) {
  unsigned n = 0;
  for (unsigned i = 0; i < insn.operand_count && i < kMaxOperands; ++i) order[n++] = static_cast<int>(i);
  // XCHG: LLVM writes the ModRM.reg register before a ModRM.rm register, and EAX/RAX before
  // the opcode register of 90+r.
  if (is(insn, ZYDIS_MNEMONIC_XCHG) && n >= 2) {
    const Operand& a = insn.operands[order[0]];
    const Operand& b = insn.operands[order[1]];
    const bool rr = a.kind == OperandKind::reg && b.kind == OperandKind::reg;
    if (rr && (a.field == Field::modrm_rm || a.field == Field::opcode_reg)) {
      const int t = order[0];
      order[0] = order[1];
      order[1] = t;
    }
  }
  return n;
}

void after_mnemonic(const Instruction& insn, TextSink& out) {
  if (insn.mnemonic != Mnemonic::ccmp && insn.mnemonic != Mnemonic::ctest) return;
  // CCMP/CTEST default flags value (EVEX.vvvv = OF SF ZF CF), written "{dfv=of,cf}".
  out.put(" {dfv=");
  static const char* const kFlags[4] = {"of", "sf", "zf", "cf"};
  bool first = true;
  for (unsigned b = 0; b < 4; ++b) {
    if (insn.evex.dfv & (8u >> b)) {
      if (!first) out.put(',');
      out.put(kFlags[b]);
      first = false;
    }
  }
  out.put('}');
}

bool operand_shown(const Instruction& insn, unsigned i) {
  const Operand& op = insn.operands[i];
  // The implicit XMM0 of SHA256RNDS2 and the SSE4.1 blends is written as a last operand.
  if (op.visibility == Visibility::hidden && op.kind == OperandKind::reg && op.reg.cls == RegClass::xmm &&
      op.reg.num == 0 && (is(insn, ZYDIS_MNEMONIC_SHA256RNDS2) || is(insn, ZYDIS_MNEMONIC_BLENDVPS) ||
                          is(insn, ZYDIS_MNEMONIC_BLENDVPD) || is(insn, ZYDIS_MNEMONIC_PBLENDVB))) {
    return true;
  }
  if (op.visibility == Visibility::hidden) return false;
  if (op.kind == OperandKind::none) return false;
  // The EVEX opmask is written as a {k} suffix of the destination, never as an operand.
  if (op.field == Field::mask) return false;
  if (folded_compare_imm(insn, nullptr) == static_cast<int>(i)) return false;
  // FUCOMP ST(i): LLVM leaves out the implicit ST(0).
  if (is(insn, ZYDIS_MNEMONIC_FUCOMP) && op.kind == OperandKind::reg && op.field == Field::none) return false;
  // NOP r/m (0F 1F /0) and the hint NOPs: LLVM writes only the r/m operand.
  if (is(insn, ZYDIS_MNEMONIC_NOP) && op.field == Field::modrm_reg) return false;
  if (op.visibility == Visibility::implicit) {
    // The implicit count of `shl eax, 1` (D0/D1) is not written.
    if (op.kind == OperandKind::imm) return false;
    // 0F 01 system instructions with implicit register operands print bare ("monitor", "vmrun").
    switch (static_cast<unsigned>(insn.mnemonic)) {
      case ZYDIS_MNEMONIC_MONITOR: case ZYDIS_MNEMONIC_MWAIT: case ZYDIS_MNEMONIC_MONITORX:
      case ZYDIS_MNEMONIC_MWAITX: case ZYDIS_MNEMONIC_VMRUN: case ZYDIS_MNEMONIC_VMLOAD:
      case ZYDIS_MNEMONIC_VMSAVE: case ZYDIS_MNEMONIC_INVLPGA: case ZYDIS_MNEMONIC_SKINIT:
      case ZYDIS_MNEMONIC_CLZERO:
        return false;
      default:
        break;
    }
  }
  return true;
}

const char* memory_size_keyword(const Instruction& insn, const Operand& op) {
  if (op.mem.kind == MemKind::agen || op.mem.kind == MemKind::mib) return nullptr;
  if (insn.far_branch) return nullptr;
  switch (static_cast<unsigned>(insn.mnemonic)) {
    case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: case ZYDIS_MNEMONIC_SGDT: case ZYDIS_MNEMONIC_SIDT:
    case ZYDIS_MNEMONIC_LSS: case ZYDIS_MNEMONIC_LFS: case ZYDIS_MNEMONIC_LGS:  // m16:16/32/64
    case ZYDIS_MNEMONIC_LDTILECFG: case ZYDIS_MNEMONIC_STTILECFG:              // 64-byte tile config
    case ZYDIS_MNEMONIC_AESENC128KL: case ZYDIS_MNEMONIC_AESDEC128KL:          // Key Locker handles
    case ZYDIS_MNEMONIC_AESENC256KL: case ZYDIS_MNEMONIC_AESDEC256KL:
    case ZYDIS_MNEMONIC_AESENCWIDE128KL: case ZYDIS_MNEMONIC_AESDECWIDE128KL:
    case ZYDIS_MNEMONIC_AESENCWIDE256KL: case ZYDIS_MNEMONIC_AESDECWIDE256KL:
      return nullptr;
    default:
      break;
  }
  // Gathers/scatters: LLVM sizes the VSIB operand by the vector length, not by the element.
  if (op.mem.kind == MemKind::vsib && insn.avx.vector_bits) {
    return insn.avx.vector_bits == 512 ? "zmmword" : insn.avx.vector_bits == 256 ? "ymmword" : "xmmword";
  }
  switch (op.bits) {  // for {1toN} Zydis already gives the element size
    case 8: return "byte";
    case 16: return "word";
    case 32: return "dword";
    case 48: return "fword";
    case 64: return "qword";
    case 80: return "tbyte";
    case 128: return "xmmword";
    case 256: return "ymmword";
    case 512: return "zmmword";
    default: return nullptr;
  }
}

bool immediate_signed(const Instruction& insn, const Operand& op) {
  // Map-4 forms print 16-bit immediates signed (LLVM's EVEX records use i16 operand types).
  if (is_map4(insn) && op.imm.bytes == 2) return true;
  // ENTER and RET/RETF imm16 print signed even though the CPU treats them as unsigned.
  if (is(insn, ZYDIS_MNEMONIC_ENTER) || is(insn, ZYDIS_MNEMONIC_RET)) return true;
  if (!op.imm.is_signed) return false;
  const unsigned width = op.imm.bytes * 8u;
  if (width == 8 || width == 64) return true;  // i8imm and i64imm: sign-extended (ENCODING_IB/IO)
  if (insn.operand_bits > width) return true;  // sign-extended to a wider operand
  return false;                               // i16imm/i32imm at full width: unsigned (ENCODING_Iv)
}

uint16_t register_bits(const Instruction& insn, const Operand& op) {
  if ((is(insn, ZYDIS_MNEMONIC_LAR) || is(insn, ZYDIS_MNEMONIC_LSL)) && op.field == Field::modrm_rm &&
      op.reg.is_gpr()) {
    return 16;
  }
  // MOVMSKPS/MOVMSKPD: LLVM names the 32-bit destination even with REX.W.
  if ((is(insn, ZYDIS_MNEMONIC_MOVMSKPS) || is(insn, ZYDIS_MNEMONIC_MOVMSKPD)) && op.reg.is_gpr()) return 32;
  return op.reg.bits;
}

bool segment_shown(const Instruction& insn, const Operand& op) {
  if (!op.mem.segment.present()) return false;
  // String destinations are always ES-relative and LLVM writes "es:".
  if (is_string_op(insn) && op.field == Field::none && op.mem.base.is_gpr() && op.mem.base.num == 7) {
    return true;
  }
  return op.mem.segment_override;
}

}  // namespace decode::style
