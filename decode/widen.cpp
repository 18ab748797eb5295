#include "decode/widen.hpp"

namespace decode {
namespace {

uint8_t modrm_reg(const Instruction& i) { return (i.modrm >> 3) & 7; }
uint8_t modrm_rm(const Instruction& i) { return i.modrm & 7; }
uint8_t sib_index(const Instruction& i) { return (i.sib >> 3) & 7; }
uint8_t sib_base(const Instruction& i) { return i.sib & 7; }

uint8_t join(uint8_t bit4, uint8_t bit3, uint8_t low3) {
  return static_cast<uint8_t>((bit4 << 4) | (bit3 << 3) | low3);
}

void widen_reg_operand(Instruction& out, Operand& op, const RegExtension& e) {
  Reg& r = op.reg;
  if (!r.is_gpr() || r.high8) return;  // AH..BH exist only without REX/REX2/EVEX
  switch (op.field) {
    case Field::modrm_reg: r.num = join(e.r4, e.r3, modrm_reg(out)); break;
    case Field::modrm_rm: r.num = join(e.b4, e.b3, modrm_rm(out)); break;
    case Field::opcode_reg: r.num = join(e.b4, e.b3, out.opcode & 7); break;
    case Field::vvvv: r.num = static_cast<uint8_t>((e.v4 << 4) | (r.num & 15)); break;
    default: break;  // implicit registers (AL of `add al, ib`, RSP of PUSH, ...) never grow
  }
}

void widen_mem_operand(Instruction& out, Operand& op, const RegExtension& e) {
  if (op.field != Field::modrm_rm) return;  // implicit memory ([rsi], [rsp], ...) never grows
  Mem& m = op.mem;
  // Base: absent (disp32 / SIB base 101 with mod 00) and RIP stay as they are; B4 does not
  // turn them into R21/R29 (spec §1.1 "SIB special cases").
  if (m.base.is_gpr()) {
    m.base.num = join(e.b4, e.b3, out.has_sib ? sib_base(out) : modrm_rm(out));
    // The default segment is SS only for an RSP/RBP base (SDM Vol. 1 §3.7.4); R20/R21 and the
    // other EGPRs default to DS like every other base.
    if (!m.segment_override && m.segment.cls == RegClass::seg) {
      m.segment.num = (m.base.num == 4 || m.base.num == 5) ? 2 : 3;
    }
  }
  if (!out.has_sib || m.kind == MemKind::vsib) return;
  // Index: X4:X3:SIB.index; only 00100 means "no index" (spec §1.1: with X4=1, 100 is R20).
  const uint8_t index = join(e.x4, e.x3, sib_index(out));
  if (index == 4) {
    m.index = Reg{};
    m.scale = 0;
    return;
  }
  m.index.cls = RegClass::gpr;
  m.index.num = index;
  m.index.bits = m.addr_bits;
  m.index.high8 = false;
  m.scale = static_cast<uint8_t>(1u << (out.sib >> 6));
}

}  // namespace

void widen_registers(Instruction& out, const RegExtension& ext) {
  for (unsigned i = 0; i < out.operand_count && i < kMaxOperands; ++i) {
    Operand& op = out.operands[i];
    if (op.kind == OperandKind::reg) widen_reg_operand(out, op, ext);
    else if (op.kind == OperandKind::mem) widen_mem_operand(out, op, ext);
  }
}

}  // namespace decode
