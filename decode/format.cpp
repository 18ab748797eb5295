// The mechanical part of the Intel printer: registers, memory operands, immediates, and the
// "mnemonic operand, operand" layout. LLVM's particular choices live in format_style.cpp.
#include "decode/format.hpp"

#include <Zydis/Register.h>

#include "arch/gpr.hpp"
#include "decode/format_style.hpp"
#include "decode/text_sink.hpp"

namespace decode {
namespace {

// AH/CH/DH/BH: the legacy high-byte names, which exist only without REX/REX2 (spec §1.5).
// Not a second register list: arch/gpr_table.def names the 32 GPRs; these are byte views.
constexpr const char* kHighByteNames[4] = {"ah", "ch", "dh", "bh"};
constexpr const char* kSegmentNames[6] = {"es", "cs", "ss", "ds", "fs", "gs"};

arch::GprWidth gpr_width(uint16_t bits) {
  switch (bits) {
    case 8: return arch::GprWidth::b8;
    case 16: return arch::GprWidth::b16;
    case 32: return arch::GprWidth::b32;
    default: return arch::GprWidth::b64;
  }
}

void put_numbered(TextSink& out, const char* prefix, unsigned n) {
  out.put(prefix);
  out.put_unsigned(n);
}

void put_reg(TextSink& out, const Reg& r, bool implicit_st0 = false) {
  switch (r.cls) {
    case RegClass::none: return;
    case RegClass::gpr:
      if (r.high8 && r.bits == 8 && r.num < 4) out.put(kHighByteNames[r.num]);
      else out.put(arch::gpr_name(r.num, gpr_width(r.bits)));
      return;
    case RegClass::seg: out.put(r.num < 6 ? kSegmentNames[r.num] : "?"); return;
    case RegClass::cr: put_numbered(out, "cr", r.num); return;
    case RegClass::dr: put_numbered(out, "dr", r.num); return;
    case RegClass::x87:
      // LLVM writes the implicit ST(0) of two-operand x87 forms as plain "st".
      if (implicit_st0 && r.num == 0) {
        out.put("st");
      } else {
        put_numbered(out, "st(", r.num);
        out.put(')');
      }
      return;
    case RegClass::mmx: put_numbered(out, "mm", r.num); return;
    case RegClass::xmm: put_numbered(out, "xmm", r.num); return;
    case RegClass::ymm: put_numbered(out, "ymm", r.num); return;
    case RegClass::zmm: put_numbered(out, "zmm", r.num); return;
    case RegClass::tmm: put_numbered(out, "tmm", r.num); return;
    case RegClass::mask: put_numbered(out, "k", r.num); return;
    case RegClass::bnd: put_numbered(out, "bnd", r.num); return;
    case RegClass::ip: out.put(r.bits == 64 ? "rip" : r.bits == 32 ? "eip" : "ip"); return;
    case RegClass::flags: out.put(r.bits == 64 ? "rflags" : r.bits == 32 ? "eflags" : "flags"); return;
    case RegClass::other: {
      const char* s = ZydisRegisterGetString(static_cast<ZydisRegister>(r.zydis));
      out.put(s ? s : "?");
      return;
    }
  }
}

// [base + scale*index + disp] in LLVM's order and spelling (X86IntelInstPrinter
// printMemReference): scale only when it is not 1 or there is no base; "riz"/"eiz" when a SIB
// byte is present without an index where ModRM alone would not need one.
void put_memory(TextSink& out, const Instruction& insn, const Operand& op) {
  const Mem& m = op.mem;
  if (const char* size = style::memory_size_keyword(insn, op)) {
    out.put(size);
    out.put(" ptr ");
  }
  if (style::segment_shown(insn, op)) {
    put_reg(out, m.segment);
    out.put(':');
  }
  out.put('[');
  bool need_plus = false;
  if (m.base.present()) {
    put_reg(out, m.base);
    need_plus = true;
  }
  const bool has_index = m.index.present();
  bool pseudo_index = false;
  if (!has_index && m.sib && m.kind != MemKind::vsib) {
    const bool base_is_sp = m.base.is_gpr() && (m.base.num == 4 || m.base.num == 12);
    // Mirrors LLVM's translateRMMemory: SIB without index prints riz when the scale is not 1,
    // when there is no base outside 64-bit mode, or when the base is not RSP/R12.
    if (m.sib_scale != 1 || (!m.base.present() && insn.mode != CpuMode::bits64) ||
        (m.base.present() && !base_is_sp)) {
      pseudo_index = true;
    }
  }
  if (has_index || pseudo_index) {
    if (need_plus) out.put(" + ");
    const uint8_t scale = has_index ? m.scale : m.sib_scale;
    if (scale != 1 || !m.base.present()) {
      out.put_unsigned(scale);
      out.put('*');
    }
    if (has_index) put_reg(out, m.index);
    else out.put(m.addr_bits == 64 ? "riz" : "eiz");
    need_plus = true;
  }
  const int64_t disp = m.disp;
  const bool absolute = !m.base.present() && !has_index && !pseudo_index;
  if (disp != 0 || absolute) {
    if (need_plus) {
      if (disp >= 0) {
        out.put(" + ");
        out.put_unsigned(static_cast<uint64_t>(disp));
      } else {
        out.put(" - ");
        out.put_unsigned(0 - static_cast<uint64_t>(disp));
      }
    } else if (op.field == Field::disp && m.addr_bits < 64) {
      // moffs16/moffs32 (A0-A3 with a 67 prefix): LLVM prints the address unsigned.
      out.put_unsigned(static_cast<uint64_t>(disp) & (m.addr_bits == 32 ? 0xFFFFFFFFull : 0xFFFFull));
    } else if (m.addr_bits == 32) {
      out.put_signed(static_cast<int32_t>(static_cast<uint32_t>(disp)));
    } else if (m.addr_bits == 16) {
      out.put_signed(static_cast<int16_t>(static_cast<uint16_t>(disp)));
    } else {
      out.put_signed(disp);
    }
  }
  out.put(']');
  if (m.broadcast) {
    out.put("{1to");
    out.put_unsigned(m.broadcast);
    out.put('}');
  }
}

void put_immediate(TextSink& out, const Instruction& insn, const Operand& op) {
  const uint64_t v = op.imm.value;
  if (op.kind == OperandKind::rel || op.kind == OperandKind::abs) {
    out.put_signed(static_cast<int64_t>(v));
    return;
  }
  if (style::immediate_signed(insn, op)) {
    // Sign-extend from the encoded width (Zydis already did for sign-extended forms).
    const unsigned bits = op.imm.bytes ? op.imm.bytes * 8u : 64u;
    int64_t s = static_cast<int64_t>(v);
    if (bits < 64) {
      const uint64_t m = 1ull << (bits - 1);
      const uint64_t low = v & ((1ull << bits) - 1);
      s = static_cast<int64_t>((low ^ m) - m);
    }
    out.put_signed(s);
    return;
  }
  const unsigned bits = op.imm.bytes ? op.imm.bytes * 8u : 64u;
  out.put_unsigned(bits >= 64 ? v : (v & ((1ull << bits) - 1)));
}

void put_operand(TextSink& out, const Instruction& insn, const Operand& op) {
  switch (op.kind) {
    case OperandKind::reg: {
      Reg r = op.reg;
      r.bits = style::register_bits(insn, op);
      put_reg(out, r, op.field == Field::none);
      return;
    }
    case OperandKind::mem:
      put_memory(out, insn, op);
      return;
    case OperandKind::imm:
    case OperandKind::rel:
    case OperandKind::abs:
      put_immediate(out, insn, op);
      return;
    case OperandKind::far_ptr:
      out.put_unsigned(op.far_selector);
      out.put(':');
      out.put_unsigned(op.imm.value);
      return;
    case OperandKind::none:
      return;
  }
}

void put_mask_suffix(TextSink& out, const Instruction& insn, unsigned i) {
  // EVEX masking follows the first (destination) operand: "zmm0 {k5} {z}".
  if (i != 0 || !insn.avx.mask.present()) return;
  out.put(" {");
  put_reg(out, insn.avx.mask);
  out.put('}');
  if (insn.avx.zeroing) out.put(" {z}");
}

}  // namespace

size_t format_register(const Reg& reg, char* buf, size_t size) {
  TextSink out(buf, size);
  put_reg(out, reg);
  return out.length();
}

size_t format_operand(const Instruction& insn, const Operand& op, char* buf, size_t size) {
  TextSink out(buf, size);
  put_operand(out, insn, op);
  return out.length();
}

size_t format_mnemonic(const Instruction& insn, char* buf, size_t size) {
  TextSink out(buf, size);
  if (!insn.ok()) {
    out.put("(bad)");
    return out.length();
  }
  style::mnemonic(insn, out);
  return out.length();
}

size_t format_intel(const Instruction& insn, char* buf, size_t size) {
  TextSink out(buf, size);
  if (!insn.ok()) {
    out.put("(bad)");
    return out.length();
  }
  style::prefix_words(insn, out);
  style::mnemonic(insn, out);
  style::after_mnemonic(insn, out);
  bool first = true;
  // A masked instruction whose only operand is memory (the AVX-512PF prefetches) writes the
  // mask first: "vgatherpf0dps {k1}, zmmword ptr [rax + 4*zmm2]".
  bool mask_first = false;
  if (insn.avx.mask.present()) {
    unsigned shown = 0;
    for (unsigned i = 0; i < insn.operand_count && i < kMaxOperands; ++i) shown += style::operand_shown(insn, i);
    mask_first = shown == 1 && insn.operands[0].kind == OperandKind::mem;
  }
  if (mask_first) {
    out.put(" {");
    put_reg(out, insn.avx.mask);
    out.put('}');
    first = false;
  }
  int order[kMaxOperands];
  unsigned count = style::string_operand_order(insn, order);
  const bool string_op = count != 0;
  if (!string_op) count = style::operand_order(insn, order);
  for (unsigned k = 0; k < count; ++k) {
    const unsigned i = static_cast<unsigned>(order[k]);
    if (!string_op && !style::operand_shown(insn, i)) continue;
    out.put(first ? " " : ", ");
    first = false;
    put_operand(out, insn, insn.operands[i]);
    if (!mask_first) put_mask_suffix(out, insn, i);
  }
  if (insn.avx.rounding) {
    static const char* const kRounding[5] = {"", "{rn-sae}", "{rd-sae}", "{ru-sae}", "{rz-sae}"};
    out.put(first ? " " : ", ");
    out.put(kRounding[insn.avx.rounding < 5 ? insn.avx.rounding : 0]);
  } else if (insn.avx.sae) {
    out.put(first ? " " : ", ");
    out.put("{sae}");
  }
  return out.length();
}

}  // namespace decode
