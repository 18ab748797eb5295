#include "decode/cmpccxadd.hpp"

#include "decode/zydis_bridge.hpp"

namespace decode {

bool decode_cmpccxadd(const uint8_t* bytes, size_t available, size_t at, Instruction& out) {
  if (available < at + 4 || bytes[at] != 0xC4) return false;
  const uint8_t map = bytes[at + 1] & 0x1F;
  const uint8_t pp = bytes[at + 2] & 3;
  const uint8_t opcode = bytes[at + 3];
  if (map != 2 || pp != 1 || (opcode & 0xF0) != 0xE0) return false;
  uint8_t buf[2 * kMaxInstructionLength + 4];
  size_t n = 0;
  for (size_t i = 0; i < available && n < sizeof(buf); ++i) buf[n++] = bytes[i];
  buf[at + 2] &= static_cast<uint8_t>(~0x04);  // VEX.L must be 0 (SDM: VEX.128); SHLX ignores it
  buf[at + 3] = 0xF7;                           // SHLX
  ZydisOutput z;
  const ZyanStatus st = zydis_decode(buf, n, CpuMode::bits64, false, z);
  if (!ZYAN_SUCCESS(st)) {
    const Reason r = reason_from_zydis(st);
    out.fault = reason_fault(r);
    out.reason = r;
    out.operand_count = 0;
    return true;
  }
  if (bytes[at + 2] & 0x04) {  // VEX.L=1 is #UD for CMPccXADD
    out.fault = Fault::ud;
    out.reason = Reason::invalid_opcode;
    out.operand_count = 0;
    return true;
  }
  convert_from_zydis(z, out);
  int mem = -1, reg = -1, vvvv = -1;
  for (unsigned i = 0; i < out.operand_count; ++i) {
    const Operand& op = out.operands[i];
    if (op.kind == OperandKind::mem) mem = static_cast<int>(i);
    else if (op.field == Field::modrm_reg) reg = static_cast<int>(i);
    else if (op.field == Field::vvvv) vvvv = static_cast<int>(i);
  }
  if (mem < 0 || reg < 0 || vvvv < 0) {  // the r/m operand must be memory
    out.fault = Fault::ud;
    out.reason = Reason::invalid_opcode;
    out.operand_count = 0;
    return true;
  }
  Operand ops[3] = {out.operands[mem], out.operands[reg], out.operands[vvvv]};
  ops[0].access = access_read | access_write;
  ops[1].access = access_read | access_write;
  ops[2].access = access_read;
  for (unsigned i = 0; i < 3; ++i) out.operands[i] = ops[i];
  out.operand_count = 3;
  out.mnemonic = Mnemonic::cmpccxadd;
  out.opcode = opcode;
  out.map = 2;
  out.fault = Fault::none;
  out.reason = Reason::ok;
  out.length = z.insn.length;
  return true;
}

}  // namespace decode
