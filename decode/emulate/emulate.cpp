// The emulator proper: operand access and one routine per instruction family. The decoder has
// already resolved every encoding question (REX/REX2 register numbers, AH..BH vs SPL..DIL,
// operand and address sizes, the effective segment), so the code here works on
// decode::Operand only and is the same for legacy, REX and REX2 forms.
//
// Ordering rule that gives "no partial effects on a fault": every instruction does its
// fallible steps (segmentation, memory reads, the one memory write) before it changes any
// register or RFLAGS. REP string instructions commit each completed iteration, as hardware
// does (SDM Vol 1 7.3.9.3).
#include "decode/emulate/emulate.hpp"

#include <Zydis/Mnemonic.h>

#include "arch/cr_bits.hpp"
#include "decode/emulate/alu.hpp"
#include "decode/emulate/segmentation.hpp"

namespace decode::emulate {

namespace {

namespace fl = arch::rflags;
using alu::mask;

// A LOCKed read-modify-write is a compare-exchange loop; another vCPU that keeps changing the
// location makes it give up and re-execute the instruction (Outcome::retry).
constexpr unsigned kCasTries = 64;

enum class Kind : uint8_t { reg, mem, imm };

// Where an operand lives after address generation and segmentation.
struct Place {
  Kind kind = Kind::reg;
  unsigned bits = 0;
  Reg reg;              // Kind::reg
  uint64_t linear = 0;  // Kind::mem
  uint64_t imm = 0;     // Kind::imm: sign- or zero-extended to 64 bits
};

constexpr bool valid_size(unsigned bits) { return bits == 8 || bits == 16 || bits == 32 || bits == 64; }

Sreg sreg_of(const Mem& m) {
  if (m.segment.cls == RegClass::seg && m.segment.num < kSregCount) return static_cast<Sreg>(m.segment.num);
  return Sreg::ds;
}

class Emu {
 public:
  Emu(const Instruction& insn, EmuContext& ctx)
      : insn_(insn), ctx_(ctx), next_rip_(ctx.rip + insn.length), rflags_in_(ctx.rflags) {}

  Result run();

 private:
  // ---- outcomes ----
  bool fail(const Exception& e) {
    res_.outcome = Outcome::fault;
    res_.exception = e;
    return false;
  }
  bool unsupported(Unsupported why) {
    res_.outcome = Outcome::unsupported;
    res_.why = why;
    return false;
  }
  bool memory_failed(const MemStatus& s) {
    switch (s.outcome) {
      case MemOutcome::ok: return true;
      case MemOutcome::page_fault: return fail(Exception::pf(s.error_code, s.address));
      case MemOutcome::bad_gpa:
        res_.outcome = Outcome::bad_gpa;
        res_.gpa = s.address;
        return false;
      case MemOutcome::retry: break;
    }
    res_.outcome = Outcome::retry;
    return false;
  }
  // The instruction finished (complete_instruction: RIP past it, RF cleared).
  Result finish() {
    const Result done = complete_instruction(ctx_, insn_.length, rflags_in_);
    res_.outcome = done.outcome;
    res_.completed = done.completed;
    res_.single_step = done.single_step;
    return res_;
  }

  // ---- registers ----
  uint64_t get_reg(const Reg& r) const {
    const uint64_t v = ctx_.gpr[r.num & 31];
    if (r.high8) return (v >> 8) & 0xFF;
    return v & mask(r.bits);
  }
  // SDM Vol 1 3.4.1.1: 8- and 16-bit writes keep the other bits, 32-bit writes zero-extend to
  // 64 bits. (Outside 64-bit mode the upper halves are not visible to the guest, and undefined
  // when it next enters 64-bit mode; they are zeroed the same way.)
  void set_reg(const Reg& r, uint64_t v) {
    uint64_t& slot = ctx_.gpr[r.num & 31];
    switch (r.bits) {
      case 8:
        if (r.high8)
          slot = (slot & ~0xFF00ull) | ((v & 0xFF) << 8);
        else
          slot = (slot & ~0xFFull) | (v & 0xFF);
        break;
      case 16: slot = (slot & ~0xFFFFull) | (v & 0xFFFF); break;
      case 32: slot = v & 0xFFFFFFFFull; break;
      default: slot = v; break;
    }
  }
  // A register named by address size (rCX, rSI, rDI of string instructions): the same rules.
  void set_addr_reg(unsigned num, unsigned bits, uint64_t v) {
    Reg r;
    r.cls = RegClass::gpr;
    r.num = static_cast<uint8_t>(num);
    r.bits = static_cast<uint16_t>(bits);
    set_reg(r, v);
  }
  void set_status_flags(uint64_t flags, uint64_t which = alu::kStatusFlags) {
    ctx_.rflags = (ctx_.rflags & ~which) | (flags & which);
  }

  // ---- operands ----
  bool is_gpr_operand(const Operand& op) const {
    return op.kind == OperandKind::reg && op.reg.is_gpr() && op.reg.num < 32 && valid_size(op.reg.bits) &&
           (!op.reg.high8 || (op.reg.bits == 8 && op.reg.num < 4));
  }
  bool is_mem_operand(const Operand& op) const {
    return op.kind == OperandKind::mem && op.mem.kind == MemKind::data && valid_size(op.bits) &&
           (op.mem.addr_bits == 16 || op.mem.addr_bits == 32 || op.mem.addr_bits == 64);
  }

  // Segmentation and the alignment check for `bytes` at `ea` of the operand's segment.
  bool linear_of(Sreg s, uint64_t ea, unsigned bytes, bool write, uint64_t& linear) {
    const Linear l = segment_access(ctx_, s, ea, bytes, write);
    if (!l.ok) return fail(l.fault);
    if (alignment_fault(ctx_, l.address, bytes)) return fail(Exception::ac0());
    linear = l.address;
    return true;
  }

  // Resolves an operand. `write`: the instruction writes it (segment type checks for writing).
  // `ea_adjust`: added to a memory operand's effective address (BT with a register offset).
  bool place_of(const Operand& op, bool write, Place& p, int64_t ea_adjust = 0) {
    if (is_gpr_operand(op)) {
      p.kind = Kind::reg;
      p.bits = op.reg.bits;
      p.reg = op.reg;
      return true;
    }
    if (is_mem_operand(op)) {
      p.kind = Kind::mem;
      p.bits = op.bits;
      const uint64_t ea = (effective_address(op.mem, ctx_.gpr, next_rip_) + static_cast<uint64_t>(ea_adjust)) &
                          mask(op.mem.addr_bits);
      return linear_of(sreg_of(op.mem), ea, p.bits / 8, write, p.linear);
    }
    if (op.kind == OperandKind::imm && !write && op.imm.bytes <= 8) {
      p.kind = Kind::imm;
      p.bits = op.bits ? op.bits : op.imm.bytes * 8u;
      p.imm = op.imm.is_signed ? alu::sign_extend(op.imm.value, op.imm.bytes * 8u) : op.imm.value;
      return true;
    }
    return unsupported(Unsupported::operand_form);
  }

  // Reads an operand's value, zero-extended from its size (immediates: as extended).
  bool load(const Place& p, uint64_t& v, AccessType type = AccessType::read) {
    switch (p.kind) {
      case Kind::reg: v = get_reg(p.reg); return true;
      case Kind::imm: v = p.imm; return true;
      case Kind::mem: break;
    }
    uint64_t raw = 0;  // little-endian host and guest: the bytes are the value
    if (!memory_failed(ctx_.mem->read(p.linear, &raw, p.bits / 8, type))) return false;
    v = raw & mask(p.bits);
    return true;
  }
  bool store_mem(const Place& p, uint64_t v) {
    return memory_failed(ctx_.mem->write(p.linear, &v, p.bits / 8));
  }

  // A read-modify-write of a memory operand: `op(old)` gives the new value. LOCK makes it a
  // compare-exchange loop (atomic for other vCPUs); without LOCK it is a read and a write, as
  // on hardware. `old` receives the value the new one was computed from.
  template <typename Op>
  bool rmw_mem(const Place& p, bool locked, uint64_t& old, Op op) {
    if (!load(p, old, AccessType::write)) return false;
    if (!locked) return store_mem(p, op(old) & mask(p.bits));
    for (unsigned i = 0; i < kCasTries; ++i) {
      uint64_t seen = 0;
      if (!memory_failed(ctx_.mem->cmpxchg(p.linear, p.bits / 8, old, op(old) & mask(p.bits), &seen))) return false;
      seen &= mask(p.bits);
      if (seen == old) return true;
      old = seen;
    }
    res_.outcome = Outcome::retry;
    return false;
  }

  // The operands written in the instruction syntax (explicit or implicit), in order.
  unsigned visible(const Operand* out[3]) const {
    unsigned n = 0;
    for (unsigned i = 0; i < insn_.operand_count && i < kMaxOperands; ++i) {
      if (insn_.operands[i].visibility == Visibility::hidden) continue;
      if (n == 3) return 4;
      out[n++] = &insn_.operands[i];
    }
    return n;
  }

  // ---- instruction families ----
  bool mov(const Operand& dst, const Operand& src);
  bool move_extend(const Operand& dst, const Operand& src, bool sign);
  bool xchg(const Operand& a, const Operand& b);
  bool binary(ZydisMnemonic m, const Operand& dst, const Operand& src);
  bool unary(ZydisMnemonic m, const Operand& dst);
  bool bit_test(ZydisMnemonic m, const Operand& dst, const Operand& src);
  bool setcc(const Operand& dst);
  bool cmovcc(const Operand& dst, const Operand& src);
  bool string_op(bool movs);
  bool dispatch();
  bool lock_allowed(ZydisMnemonic m) const;

  const Instruction& insn_;
  EmuContext& ctx_;
  const uint64_t next_rip_;
  const uint64_t rflags_in_;
  Result res_;
  bool yielded_ = false;
};

bool Emu::mov(const Operand& dst, const Operand& src) {
  Place d, s;
  if (!place_of(src, false, s) || !place_of(dst, true, d)) return false;
  if (d.kind == Kind::imm || (s.kind != Kind::imm && s.bits != d.bits)) return unsupported(Unsupported::operand_form);
  uint64_t v = 0;
  if (!load(s, v)) return false;
  if (d.kind == Kind::mem) return store_mem(d, v & mask(d.bits));
  set_reg(d.reg, v);
  return true;
}

// MOVZX, MOVSX (0F B6/B7/BE/BF) and MOVSXD (63): SDM Vol 2B. MOVSXD with a 16-bit destination
// (66 63) keeps the low 16 bits of its source; the decoder gives the source operand size.
bool Emu::move_extend(const Operand& dst, const Operand& src, bool sign) {
  Place d, s;
  if (!place_of(src, false, s) || !place_of(dst, true, d)) return false;
  if (d.kind != Kind::reg || s.kind == Kind::imm) return unsupported(Unsupported::operand_form);
  uint64_t v = 0;
  if (!load(s, v)) return false;
  if (sign) v = alu::sign_extend(v, s.bits);
  set_reg(d.reg, v & mask(d.bits));
  return true;
}

// XCHG: with a memory operand the processor locks the bus whether or not LOCK is given
// (SDM Vol 2B XCHG), so it is always a compare-exchange.
bool Emu::xchg(const Operand& a, const Operand& b) {
  Place pa, pb;
  if (!place_of(a, true, pa) || !place_of(b, true, pb)) return false;
  if (pa.kind == Kind::imm || pb.kind == Kind::imm || pa.bits != pb.bits) return unsupported(Unsupported::operand_form);
  if (pa.kind == Kind::mem && pb.kind == Kind::mem) return unsupported(Unsupported::operand_form);
  if (pa.kind == Kind::reg && pb.kind == Kind::reg) {
    const uint64_t va = get_reg(pa.reg), vb = get_reg(pb.reg);
    set_reg(pa.reg, vb);
    set_reg(pb.reg, va);
    return true;
  }
  const Place& m = pa.kind == Kind::mem ? pa : pb;
  const Place& r = pa.kind == Kind::mem ? pb : pa;
  const uint64_t value = get_reg(r.reg);
  uint64_t old = 0;
  if (!rmw_mem(m, true, old, [value](uint64_t) { return value; })) return false;
  set_reg(r.reg, old);
  return true;
}

// ADD ADC SUB SBB AND OR XOR CMP TEST (SDM Vol 2A/2B, "Flags Affected" of each).
bool Emu::binary(ZydisMnemonic m, const Operand& dst, const Operand& src) {
  const bool writes = m != ZYDIS_MNEMONIC_CMP && m != ZYDIS_MNEMONIC_TEST;
  Place d, s;
  if (!place_of(src, false, s) || !place_of(dst, writes, d)) return false;
  if (d.kind == Kind::imm) return unsupported(Unsupported::operand_form);
  const unsigned bits = d.bits;
  uint64_t b = 0;
  if (!load(s, b)) return false;
  b &= mask(bits);
  const bool cf = ctx_.rflags & fl::CF;
  alu::Value out{0, 0};
  auto compute = [&](uint64_t a) {
    switch (m) {
      case ZYDIS_MNEMONIC_ADD: out = alu::add(a, b, false, bits); break;
      case ZYDIS_MNEMONIC_ADC: out = alu::add(a, b, cf, bits); break;
      case ZYDIS_MNEMONIC_SUB:
      case ZYDIS_MNEMONIC_CMP: out = alu::sub(a, b, false, bits); break;
      case ZYDIS_MNEMONIC_SBB: out = alu::sub(a, b, cf, bits); break;
      case ZYDIS_MNEMONIC_AND:
      case ZYDIS_MNEMONIC_TEST: out = alu::logic(a & b, bits); break;
      case ZYDIS_MNEMONIC_OR: out = alu::logic(a | b, bits); break;
      default: out = alu::logic(a ^ b, bits); break;  // XOR
    }
    return out.result;
  };
  uint64_t a = 0;
  if (!writes || d.kind == Kind::reg) {
    if (!load(d, a)) return false;
    compute(a);
    if (writes) set_reg(d.reg, out.result);
  } else if (!rmw_mem(d, insn_.prefixes.lock, a, compute)) {
    return false;
  }
  compute(a);  // flags of the value that was actually stored (after a LOCK retry)
  set_status_flags(out.flags);
  return true;
}

// INC DEC (CF unchanged), NEG (CF = source != 0), NOT (no flags). SDM Vol 2A/2B.
bool Emu::unary(ZydisMnemonic m, const Operand& dst) {
  Place d;
  if (!place_of(dst, true, d)) return false;
  if (d.kind == Kind::imm) return unsupported(Unsupported::operand_form);
  const unsigned bits = d.bits;
  alu::Value out{0, 0};
  auto compute = [&](uint64_t a) {
    switch (m) {
      case ZYDIS_MNEMONIC_INC: out = alu::add(a, 1, false, bits); break;
      case ZYDIS_MNEMONIC_DEC: out = alu::sub(a, 1, false, bits); break;
      case ZYDIS_MNEMONIC_NEG: out = alu::sub(0, a, false, bits); break;
      default: out = {~a & mask(bits), 0}; break;  // NOT
    }
    return out.result;
  };
  uint64_t a = 0;
  if (d.kind == Kind::reg) {
    a = get_reg(d.reg);
    set_reg(d.reg, compute(a));
  } else if (!rmw_mem(d, insn_.prefixes.lock, a, compute)) {
    return false;
  }
  compute(a);
  switch (m) {
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC: set_status_flags(out.flags, alu::kStatusFlags & ~fl::CF); break;
    case ZYDIS_MNEMONIC_NEG: set_status_flags(out.flags); break;
    default: break;
  }
  return true;
}

// BT BTS BTR BTC (SDM Vol 2A "BT—Bit Test"): with an immediate the offset is taken modulo the
// operand size; with a register and a memory operand the offset is a signed bit string index,
// so the operand-size unit at EA + (offset SAR log2(size)) * size/8 is accessed. CF = the bit;
// OF/SF/AF/PF are undefined and left unchanged, ZF is unaffected.
bool Emu::bit_test(ZydisMnemonic m, const Operand& dst, const Operand& src) {
  const bool writes = m != ZYDIS_MNEMONIC_BT;
  const unsigned bits = dst.bits;
  if (bits != 16 && bits != 32 && bits != 64) return unsupported(Unsupported::operand_form);
  const unsigned shift = bits == 16 ? 4 : bits == 32 ? 5 : 6;
  uint64_t offset = 0;
  int64_t ea_adjust = 0;
  if (src.kind == OperandKind::imm) {
    offset = src.imm.value;
  } else if (is_gpr_operand(src) && src.reg.bits == bits) {
    offset = get_reg(src.reg);
    if (dst.kind == OperandKind::mem) {
      const int64_t signed_offset = static_cast<int64_t>(alu::sign_extend(offset, bits));
      ea_adjust = (signed_offset >> shift) * static_cast<int64_t>(bits / 8);  // arithmetic shift
    }
  } else {
    return unsupported(Unsupported::operand_form);
  }
  const uint64_t bit = 1ull << (offset & (bits - 1));
  Place d;
  if (!place_of(dst, writes, d, ea_adjust)) return false;
  if (d.kind == Kind::imm) return unsupported(Unsupported::operand_form);
  auto compute = [&](uint64_t a) -> uint64_t {
    switch (m) {
      case ZYDIS_MNEMONIC_BTS: return a | bit;
      case ZYDIS_MNEMONIC_BTR: return a & ~bit;
      case ZYDIS_MNEMONIC_BTC: return a ^ bit;
      default: return a;
    }
  };
  uint64_t a = 0;
  if (!writes || d.kind == Kind::reg) {
    if (!load(d, a)) return false;
    if (writes) set_reg(d.reg, compute(a));
  } else if (!rmw_mem(d, insn_.prefixes.lock, a, compute)) {
    return false;
  }
  set_status_flags((a & bit) ? fl::CF : 0, fl::CF);
  return true;
}

// SETcc r/m8 (0F 90+cc): the condition is the opcode's low nibble (SDM Vol 2 Table B-10).
bool Emu::setcc(const Operand& dst) {
  Place d;
  if (!place_of(dst, true, d)) return false;
  if (d.kind == Kind::imm || d.bits != 8) return unsupported(Unsupported::operand_form);
  const uint64_t v = alu::condition(insn_.opcode & 15, ctx_.rflags) ? 1 : 0;
  if (d.kind == Kind::mem) return store_mem(d, v);
  set_reg(d.reg, v);
  return true;
}

// CMOVcc r, r/m (0F 40+cc). The source is read (and may fault) whatever the condition; with a
// 32-bit destination the upper half is cleared even when the condition is false (SDM Vol 2A
// CMOVcc: "in 64-bit mode ... the upper 32 bits are cleared"; checked against hardware).
bool Emu::cmovcc(const Operand& dst, const Operand& src) {
  Place d, s;
  if (!place_of(src, false, s) || !place_of(dst, true, d)) return false;
  if (d.kind != Kind::reg || s.kind == Kind::imm || s.bits != d.bits) return unsupported(Unsupported::operand_form);
  uint64_t v = 0;
  if (!load(s, v)) return false;
  if (alu::condition(insn_.opcode & 15, ctx_.rflags))
    set_reg(d.reg, v);
  else if (d.bits == 32)
    set_reg(d.reg, get_reg(d.reg));
  return true;
}

// STOS (AA/AB) and MOVS (A4/A5), with REP/REPNE (F2 acts as REP here, as on hardware).
// SDM Vol 2B STOS/MOVS and Vol 1 7.3.9: ES:rDI is the destination (ES cannot be overridden),
// [seg:]rSI the source; rSI/rDI step by the element size, down when RFLAGS.DF = 1; the count
// is rCX; all three are used at the address size (CX/ECX/RCX). Returns true when the
// instruction completed or yielded (yielded_).
bool Emu::string_op(bool movs) {
  const unsigned bits = insn_.operand_bits, bytes = bits / 8;
  const unsigned asz = insn_.address_bits;
  if (!valid_size(bits) || (asz != 16 && asz != 32 && asz != 64)) return unsupported(Unsupported::operand_form);
  Sreg src_seg = Sreg::ds;
  for (unsigned i = 0; i < insn_.operand_count && i < kMaxOperands; ++i) {
    const Operand& op = insn_.operands[i];
    if (op.kind == OperandKind::mem && op.mem.base.is_gpr() && (op.mem.base.num & 31) == 6) src_seg = sreg_of(op.mem);
  }
  const bool rep = insn_.prefixes.last_rep != 0;
  const uint64_t amask = mask(asz);
  const uint64_t step = (ctx_.rflags & fl::DF) ? (0 - static_cast<uint64_t>(bytes)) : bytes;
  uint64_t* gpr = ctx_.gpr;
  uint32_t done = 0;
  for (;;) {
    if (rep && (gpr[1] & amask) == 0) break;
    if (rep && ctx_.rep_budget && done == ctx_.rep_budget) {
      yielded_ = true;  // RIP stays: the guest resumes the REP where this call stopped
      return true;
    }
    uint64_t value = gpr[0] & mask(bits);
    if (movs) {
      uint64_t src = 0;
      if (!linear_of(src_seg, gpr[6] & amask, bytes, false, src)) return false;
      uint64_t raw = 0;
      if (!memory_failed(ctx_.mem->read(src, &raw, bytes, AccessType::read))) return false;
      value = raw & mask(bits);
    }
    uint64_t dst = 0;
    if (!linear_of(Sreg::es, gpr[7] & amask, bytes, true, dst)) return false;
    if (!memory_failed(ctx_.mem->write(dst, &value, bytes))) return false;
    // The iteration is architecturally complete: commit it.
    set_addr_reg(7, asz, (gpr[7] + step) & amask);
    if (movs) set_addr_reg(6, asz, (gpr[6] + step) & amask);
    if (!rep) break;
    set_addr_reg(1, asz, (gpr[1] - 1) & amask);
    ++done;
  }
  return true;
}

// SDM Vol 2A "LOCK": only ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG NOT OR SBB
// SUB XOR XADD XCHG, and only with a memory destination; otherwise #UD.
bool Emu::lock_allowed(ZydisMnemonic m) const {
  switch (m) {
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_BTC:
    case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_XCHG: break;
    // Lockable, but not emulated: LOCK is legal here, dispatch() reports them unsupported
    // (the EPT write monitor single-steps them instead) rather than raising #UD.
    case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_CMPXCHG16B:
    case ZYDIS_MNEMONIC_XADD: break;
    default: return false;
  }
  for (unsigned i = 0; i < insn_.operand_count && i < kMaxOperands; ++i)
    if (insn_.operands[i].kind == OperandKind::mem && insn_.operands[i].visibility == Visibility::explicit_)
      return i == 0;  // the destination is the first operand
  return false;
}

bool Emu::dispatch() {
  // String instructions by opcode (Zydis's MOVSD also names the SSE instruction).
  if (insn_.map == 0 && insn_.encoding == Encoding::legacy &&
      (insn_.opcode == 0xA4 || insn_.opcode == 0xA5 || insn_.opcode == 0xAA || insn_.opcode == 0xAB))
    return string_op(insn_.opcode == 0xA4 || insn_.opcode == 0xA5);

  const auto m = static_cast<ZydisMnemonic>(insn_.mnemonic);
  const Operand* ops[3] = {nullptr, nullptr, nullptr};
  const unsigned n = visible(ops);
  switch (m) {
    case ZYDIS_MNEMONIC_MOV:
      return n == 2 ? mov(*ops[0], *ops[1]) : unsupported(Unsupported::operand_form);
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
      return n == 2 ? move_extend(*ops[0], *ops[1], m != ZYDIS_MNEMONIC_MOVZX) : unsupported(Unsupported::operand_form);
    case ZYDIS_MNEMONIC_XCHG:
      return n == 2 ? xchg(*ops[0], *ops[1]) : unsupported(Unsupported::operand_form);
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST:
      return n == 2 ? binary(m, *ops[0], *ops[1]) : unsupported(Unsupported::operand_form);
    case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT:
      return n == 1 ? unary(m, *ops[0]) : unsupported(Unsupported::operand_form);
    case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC:
      return n == 2 ? bit_test(m, *ops[0], *ops[1]) : unsupported(Unsupported::operand_form);
    default: break;
  }
  // SETcc (0F 90-9F) and CMOVcc (0F 40-4F): one routine each for the 16 conditions.
  if (insn_.map == 1 && (insn_.opcode & 0xF0) == 0x90)
    return n == 1 ? setcc(*ops[0]) : unsupported(Unsupported::operand_form);
  if (insn_.map == 1 && (insn_.opcode & 0xF0) == 0x40)
    return n == 2 ? cmovcc(*ops[0], *ops[1]) : unsupported(Unsupported::operand_form);
  return unsupported(Unsupported::mnemonic);
}

Result Emu::run() {
  // What the decoder says the instruction raises comes first (decode/decode.hpp).
  if (insn_.fault == Fault::ud) {
    fail(Exception::ud());
  } else if (insn_.fault == Fault::gp) {
    fail(Exception::gp0());
  } else if (!insn_.emulatable()) {
    unsupported(Unsupported::not_decoded);
  } else if (!ctx_.gpr || !ctx_.mem) {
    unsupported(Unsupported::no_context);
  } else if (insn_.mode != ctx_.mode) {
    unsupported(Unsupported::mode_mismatch);
  } else if (insn_.encoding != Encoding::legacy && insn_.encoding != Encoding::rex2) {
    unsupported(Unsupported::encoding);
  } else if (!is_zydis(insn_.mnemonic)) {
    unsupported(Unsupported::mnemonic);
  } else if (insn_.prefixes.lock && !lock_allowed(static_cast<ZydisMnemonic>(insn_.mnemonic))) {
    fail(Exception::ud());
  } else if (dispatch()) {
    if (!yielded_) return finish();
    res_.outcome = Outcome::ok;  // a REP string op stopped after ctx.rep_budget iterations
    res_.completed = false;
  }
  return res_;
}

}  // namespace

Result complete_instruction(EmuContext& ctx, unsigned length, uint64_t rflags_before) {
  // RF is cleared at the successful completion of any instruction except IRET/RSM/task
  // switch (SDM Vol 3A 17.3.1.1).
  ctx.rflags = (ctx.rflags & ~fl::RF) | fl::FIXED1;
  ctx.rip += length;
  // Outside 64-bit mode the instruction pointer is EIP, or IP for 16-bit code.
  if (ctx.mode == CpuMode::bits32) ctx.rip &= 0xFFFFFFFFull;
  if (ctx.mode == CpuMode::bits16) ctx.rip &= 0xFFFFull;
  Result r;
  r.outcome = Outcome::ok;
  r.completed = true;
  r.single_step = (rflags_before & fl::TF) != 0;
  return r;
}

Result emulate(const Instruction& insn, EmuContext& ctx) {
  Emu emu(insn, ctx);
  return emu.run();
}

const char* unsupported_text(Unsupported why) {
  switch (why) {
    case Unsupported::none: return "emulated";
    case Unsupported::not_decoded: return "the instruction did not decode to an emulatable form";
    case Unsupported::mode_mismatch: return "decoded in a different mode than the context";
    case Unsupported::no_context: return "no register file or guest memory in the context";
    case Unsupported::encoding: return "VEX/EVEX/XOP encodings are not emulated";
    case Unsupported::mnemonic: return "instruction not emulated";
    case Unsupported::operand_form: return "operand form not emulated";
  }
  return "?";
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::fault: return "fault";
    case Outcome::unsupported: return "unsupported";
    case Outcome::bad_gpa: return "bad_gpa";
    case Outcome::retry: return "retry";
  }
  return "?";
}

}  // namespace decode::emulate
