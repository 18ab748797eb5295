// Decoding an instruction with a REX2 prefix (spec §1). The prefix rules are enforced here;
// the rest of the instruction is decoded by Zydis 4.0.0 (which predates APX) through an
// equivalent legacy encoding: the same legacy prefixes, a REX carrying W/R3/X3/B3, a 0F escape
// for M0=1, then the original opcode and everything after it. Zydis's 4-bit register numbers
// are then widened with R4/X4/B4 (decode/widen.hpp) and the length corrected.
#include "decode/rex2.hpp"

#include "arch/little_endian.hpp"
#include "decode/reject.hpp"
#include "decode/widen.hpp"
#include "decode/zydis_bridge.hpp"

namespace decode {
namespace {

// JMPABS: D5 (M0=0, W=0) A1 imm64, a 64-bit absolute jump (spec §1.4).
void decode_jmpabs(const uint8_t* bytes, size_t available, const PrefixScan& scan, Instruction& out) {
  const Prefixes& p = scan.prefixes;
  if (out.rex2.w) return reject(out, Reason::jmpabs_w1, scan.end + 3);
  if (p.opsize || p.rep || p.repne) return reject(out, Reason::jmpabs_prefix, scan.end + 3);
  if (p.addrsize || p.lock) return reject(out, Reason::jmpabs_prefix_67_f0, scan.end + 3);
  const size_t length = scan.end + 3 + 8;
  if (length > kMaxInstructionLength) return reject(out, Reason::too_long, length);
  if (available < length) return reject(out, Reason::truncated, available);
  const uint64_t target = arch::load_le(bytes + scan.end + 3, 8);
  out.fault = Fault::none;
  out.reason = Reason::ok;
  out.length = static_cast<uint8_t>(length);
  out.mnemonic = Mnemonic::jmpabs;
  out.map = 0;
  out.opcode = 0xA1;
  out.operand_bits = 64;
  out.address_bits = 64;
  out.stack_bits = 64;
  out.operand_count = 1;
  Operand& t = out.operands[0];
  t = Operand{};
  t.kind = OperandKind::abs;
  t.field = Field::imm;
  t.access = access_read;
  t.bits = 64;
  t.imm.value = target;
  t.imm.bytes = 8;
  // The implicit RIP write, as Zydis lists it for JMP.
  Operand& ip = out.operands[1];
  ip = Operand{};
  ip.kind = OperandKind::reg;
  ip.visibility = Visibility::hidden;
  ip.access = access_write;
  ip.bits = 64;
  ip.reg.cls = RegClass::ip;
  ip.reg.bits = 64;
  out.operand_count = 2;
}

}  // namespace

void decode_rex2(const uint8_t* bytes, size_t available, const PrefixScan& scan, Instruction& out) {
  const size_t at = scan.end;  // bytes[at] == 0xD5
  out.encoding = Encoding::rex2;
  out.prefixes = scan.prefixes;
  out.prefixes.rex = 0;
  if (at + 2 > kMaxInstructionLength) return reject(out, Reason::too_long, at + 2);
  if (available < at + 2) return reject(out, Reason::truncated, available);
  out.rex2 = parse_rex2_payload(bytes[at + 1]);
  const Rex2& x = out.rex2;
  if (at + 3 > kMaxInstructionLength) return reject(out, Reason::too_long, at + 3);
  if (available < at + 3) return reject(out, Reason::truncated, available);
  const uint8_t opcode = bytes[at + 2];
  out.map = x.m0;
  out.opcode = opcode;

  if (x.m0 == 0 && opcode == 0xA1) return decode_jmpabs(bytes, available, scan, out);
  const Reason rule = rex2_opcode_rule(x.m0, opcode);
  if (rule != Reason::ok) return reject(out, rule, at + 3);
  // MOV CR/DR (map 1, 20-23): REX2.R4 is not ignored there, and CR16+/DR16+ do not exist ->
  // #UD (APX spec as quoted in LLVM PR #82584). Decided from the payload, like the rows above,
  // before the ModRM register is looked at, so every R4=1 form gets this one reason.
  if (x.m0 == 1 && opcode >= 0x20 && opcode <= 0x23 && x.r4) return reject(out, Reason::rex2_cr_dr_r4, at + 3);

  // Equivalent legacy encoding. REX bytes among the legacy prefixes are ignored by the CPU
  // (a REX counts only right before the opcode), so they are left out.
  uint8_t buf[kMaxInstructionLength + 2 + 16];
  size_t n = 0;
  for (size_t i = 0; i < at; ++i) {
    if (!is_rex(bytes[i], CpuMode::bits64)) buf[n++] = bytes[i];
  }
  uint8_t rex = static_cast<uint8_t>(0x40 | (x.w << 3) | (x.r3 << 2) | (x.x3 << 1) | x.b3);
  // 90+r with B4=1 names R16..R23 (spec §1.1 "opcode-reg forms"): force REX.B so that Zydis
  // sees XCHG rather than NOP; widen_registers() rebuilds the number from B4:B3:opcode[2:0].
  if (x.m0 == 0 && opcode == 0x90 && x.b4) rex |= 1;
  buf[n++] = rex;
  if (x.m0) buf[n++] = 0x0F;
  const size_t head = n;  // bytes of the equivalent encoding before the opcode
  size_t tail = available - (at + 2);
  if (tail > kMaxInstructionLength) tail = kMaxInstructionLength;
  for (size_t i = 0; i < tail; ++i) buf[n++] = bytes[at + 2 + i];

  ZydisOutput z;
  const ZyanStatus st = zydis_decode(buf, n, CpuMode::bits64, false, z, /*mpx=*/false);
  if (!ZYAN_SUCCESS(st)) {
    Reason r = reason_from_zydis(st);
    // The equivalent encoding may be shorter than the original; judge length on the original.
    if (r == Reason::too_long) r = Reason::invalid_opcode;
    return reject(out, r, available < kMaxInstructionLength ? available : kMaxInstructionLength);
  }
  const size_t length = at + 2 + (z.insn.length - head);
  if (length > kMaxInstructionLength) return reject(out, Reason::too_long, length);

  convert_from_zydis(z, out);
  out.encoding = Encoding::rex2;
  out.map = x.m0;  // Zydis reports map 0F for M0=1: the same thing
  out.opcode = opcode;

  RegExtension ext;
  ext.r3 = x.r3; ext.r4 = x.r4; ext.x3 = x.x3; ext.x4 = x.x4; ext.b3 = x.b3; ext.b4 = x.b4;
  widen_registers(out, ext);

  // PUSHP/POPP: REX2.W on 50+r / 58+r is the PPX hint, not an operand size (spec §1.4).
  if (x.m0 == 0 && x.w && (opcode & 0xF0) == 0x50) {
    out.mnemonic = opcode < 0x58 ? Mnemonic::pushp : Mnemonic::popp;
  }

  out.fault = Fault::none;
  out.reason = Reason::ok;
  out.length = static_cast<uint8_t>(length);
}

}  // namespace decode
