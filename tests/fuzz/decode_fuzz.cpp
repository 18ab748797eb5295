// libFuzzer harness for decode::decode + decode::format_intel (clang-19
// -fsanitize=fuzzer,address,undefined). The first input byte picks the CPU mode and the APX
// switch; the rest are instruction bytes. Besides "no crash, no sanitizer report", it checks
// the decoder's contract:
//   * a decoded instruction is 1..15 bytes, within the input, with at most 10 operands and
//     GPR numbers < 32 (EGPRs only in 64-bit mode with APX);
//   * decoding exactly `length` bytes gives the same instruction; any shorter prefix of it is
//     "truncated" (never a different instruction, never #UD);
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
    check(again.ok() && again.length == insn.length && again.mnemonic == insn.mnemonic);
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
