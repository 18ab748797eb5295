// libFuzzer harness for decode::decode + decode::format_intel (clang-19
// -fsanitize=fuzzer,address,undefined). The first input byte picks the CPU mode and the APX
// switch; the rest are instruction bytes. Besides "no crash, no sanitizer report", it checks
// the decoder's contract:
//   * a decoded instruction is 1..15 bytes, within the input, with at most 10 operands and
//     GPR numbers < 32 (EGPRs only in 64-bit mode with APX);
//   * decoding exactly `length` bytes gives the same instruction, field by field: mnemonic,
//     encoding, map, opcode, sizes, prefixes, REX2/EVEX payload, ModRM/SIB and every operand
//     (kind, field, access, size, register, memory base/index/scale/displacement, immediate);
//     any shorter prefix of it is "truncated" (never a different instruction, never #UD);
//   * the formatter fits any buffer it is given and NUL-terminates it.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode.hpp"
#include "decode/format.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_register(const decode::Reg& r, const decode::Options& o) {
  if (r.cls != decode::RegClass::gpr) return;
  check(r.num < 32);
  if (r.num >= 16) check(o.mode == decode::CpuMode::bits64 && o.apx);
  if (r.high8) check(r.num < 4 && r.bits == 8);
}

bool same_reg(const decode::Reg& a, const decode::Reg& b) {
  return a.cls == b.cls && a.num == b.num && a.bits == b.bits && a.high8 == b.high8 && a.zydis == b.zydis;
}

bool same_mem(const decode::Mem& a, const decode::Mem& b) {
  return same_reg(a.segment, b.segment) && a.segment_override == b.segment_override && same_reg(a.base, b.base) &&
         same_reg(a.index, b.index) && a.scale == b.scale && a.sib_scale == b.sib_scale && a.sib == b.sib &&
         a.disp == b.disp && a.disp_bytes == b.disp_bytes && a.addr_bits == b.addr_bits && a.kind == b.kind &&
         a.broadcast == b.broadcast;
}

bool same_operand(const decode::Operand& a, const decode::Operand& b) {
  return a.kind == b.kind && a.visibility == b.visibility && a.field == b.field && a.access == b.access &&
         a.bits == b.bits && same_reg(a.reg, b.reg) && same_mem(a.mem, b.mem) && a.imm.value == b.imm.value &&
         a.imm.bytes == b.imm.bytes && a.imm.is_signed == b.imm.is_signed && a.far_selector == b.far_selector;
}

// Everything decode() says about an instruction (the structs have padding: no memcmp).
bool same_instruction(const decode::Instruction& a, const decode::Instruction& b) {
  const decode::Prefixes& p = a.prefixes;
  const decode::Prefixes& q = b.prefixes;
  if (a.fault != b.fault || a.reason != b.reason || a.length != b.length || a.mnemonic != b.mnemonic ||
      a.encoding != b.encoding || a.map != b.map || a.opcode != b.opcode || a.operand_bits != b.operand_bits ||
      a.address_bits != b.address_bits || a.stack_bits != b.stack_bits || a.has_modrm != b.has_modrm ||
      a.modrm != b.modrm || a.has_sib != b.has_sib || a.sib != b.sib || a.far_branch != b.far_branch ||
      a.zydis_attributes != b.zydis_attributes || a.zydis_category != b.zydis_category ||
      a.operand_count != b.operand_count)
    return false;
  if (p.count != q.count || p.lock != q.lock || p.rep != q.rep || p.repne != q.repne || p.last_rep != q.last_rep ||
      p.mandatory != q.mandatory || p.opsize != q.opsize || p.addrsize != q.addrsize || p.segment != q.segment ||
      p.rex != q.rex)
    return false;
  if (a.rex2.present != b.rex2.present || a.rex2.payload != b.rex2.payload) return false;
  if (a.evex.present != b.evex.present || a.evex.apx != b.evex.apx || a.evex.form != b.evex.form ||
      a.evex.p0 != b.evex.p0 || a.evex.p1 != b.evex.p1 || a.evex.p2 != b.evex.p2 || a.evex.nd != b.evex.nd ||
      a.evex.nf != b.evex.nf || a.evex.scc != b.evex.scc || a.evex.dfv != b.evex.dfv)
    return false;
  if (a.avx.vector_bits != b.avx.vector_bits || !same_reg(a.avx.mask, b.avx.mask) || a.avx.zeroing != b.avx.zeroing ||
      a.avx.rounding != b.avx.rounding || a.avx.sae != b.avx.sae)
    return false;
  for (unsigned i = 0; i < a.operand_count; ++i) {
    if (!same_operand(a.operands[i], b.operands[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  ++data;
  --size;
  decode::Options o;
  static const decode::CpuMode kModes[4] = {decode::CpuMode::bits64, decode::CpuMode::bits64,
                                            decode::CpuMode::bits32, decode::CpuMode::bits16};
  o.mode = kModes[sel & 3];
  o.apx = (sel & 4) == 0;
  o.real_mode = o.mode == decode::CpuMode::bits16 && (sel & 8);

  const decode::Instruction insn = decode::decode(data, size, o);
  if (insn.ok()) {
    check(insn.length >= 1 && insn.length <= 15 && insn.length <= size);
    check(insn.operand_count <= decode::kMaxOperands);
    for (unsigned i = 0; i < insn.operand_count; ++i) {
      const decode::Operand& op = insn.operands[i];
      check_register(op.reg, o);
      check_register(op.mem.base, o);
      check_register(op.mem.index, o);
    }
    // The same bytes, cut to the instruction, decode to the same thing.
    const decode::Instruction again = decode::decode(data, insn.length, o);
    check(again.ok() && same_instruction(again, insn));
    // Shorter prefixes need more bytes.
    for (size_t n = 0; n < insn.length; ++n) {
      const decode::Instruction part = decode::decode(data, n, o);
      check(part.fault == decode::Fault::truncated);
    }
  } else {
    check(insn.reason != decode::Reason::ok && insn.reason != decode::Reason::evex_apx_not_emulated);
    check(insn.fault == decode::reason_fault(insn.reason));
  }

  char text[256];
  const size_t need = decode::format_intel(insn, text, sizeof text);
  check(need < sizeof text);
  check(strlen(text) == need);
  char small[9];
  memset(small, 0x55, sizeof small);
  const size_t need_small = decode::format_intel(insn, small, 8);
  check(need_small == need);
  check(small[8] == 0x55);
  check(strlen(small) == (need < 7 ? need : 7));
  char mnemonic[64];
  decode::format_mnemonic(insn, mnemonic, sizeof mnemonic);
  decode::format_intel(insn, nullptr, 0);
  return 0;
}
