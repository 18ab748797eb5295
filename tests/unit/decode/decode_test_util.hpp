// Small helpers shared by the decoder unit tests.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "decode/decode.hpp"
#include "decode/format.hpp"

namespace decode_test {

using Bytes = std::vector<uint8_t>;

inline decode::Instruction dec(const Bytes& b, decode::CpuMode mode = decode::CpuMode::bits64, bool apx = true) {
  return decode::decode(b.data(), b.size(), mode, apx);
}

inline std::string text(const decode::Instruction& insn) {
  char buf[256];
  decode::format_intel(insn, buf, sizeof buf);
  return buf;
}

inline std::string text(const Bytes& b, decode::CpuMode mode = decode::CpuMode::bits64, bool apx = true) {
  return text(dec(b, mode, apx));
}

inline std::string reg_name(const decode::Reg& r) {
  char buf[32];
  decode::format_register(r, buf, sizeof buf);
  return buf;
}

// The first explicit memory operand (or nullptr).
inline const decode::Mem* memory_of(const decode::Instruction& insn) {
  for (unsigned i = 0; i < insn.operand_count; ++i) {
    if (insn.operands[i].kind == decode::OperandKind::mem && insn.operands[i].field == decode::Field::modrm_rm) {
      return &insn.operands[i].mem;
    }
  }
  return nullptr;
}

}  // namespace decode_test
