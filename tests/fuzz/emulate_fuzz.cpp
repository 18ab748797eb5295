// libFuzzer harness for the instruction emulator (decode::emulate::emulate), as the unit tests
// drive it (tests/unit/emulate/emulate_test_support.hpp run()): decode the bytes, emulate the
// result on a register file and a memory model. Built with clang-19
// -fsanitize=fuzzer,address,undefined like decode_fuzz, so any out-of-bounds access or UB in
// the emulator is a failure. Input layout (missing bytes read as 0):
//   [0]      mode (bits 1:0: 64, 64, 32, 16), APX off (bit 2), real/v86 (bit 3, 16-bit only),
//            CPL (bits 5:4), CR0.AM (bit 6), CR4.LA57 (bit 7)
//   [1]      RFLAGS: CF PF AF ZF SF TF DF OF from bits 0..7; [2] bit 0: AC
//   [2]      REP budget (bits 7:1, 0 = unbounded)
//   [3..17]  15 instruction bytes
//   [18..]   16-bit register seeds, two bytes per GPR (RAX first): the low 12 bits are an offset,
//            bits 15:12 pick the region: 0-9 inside the 64 KiB of RAM at linear 0, 10 the
//            non-RAM hole, 11 just below 2^32, 12 just below the 48-bit canonical boundary,
//            13 the top of the address space, 14 a small count, 15 a byte pattern
// Memory: linear 0..0xFFFF is RAM except 0x8000..0x8FFF, which answers bad_gpa (MMIO);
// anything else is a not-present page (#PF). Segments are flat.
// Besides "no crash, no sanitizer report", checks the emulator's contract (emulate.hpp):
//   * the outcome is one of the five; a decoder #UD/#GP verdict is that fault, any other
//     undecoded form (truncated, EVEX-APX) is `unsupported` (not_decoded);
//   * ok + completed: RIP advanced by exactly the decoder's length (1..15 bytes);
//     ok + not completed only for a REP string instruction, RIP unchanged;
//   * fault: #UD without an error code, #GP/#SS/#AC with one (0), #PF with one whose P bit
//     matches the page and CR2 inside the page that faulted; RIP, registers, flags and memory
//     unchanged;
//   * bad_gpa names the hole; retry never happens (this memory never changes under a walk);
//   * unsupported and bad_gpa change nothing.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode/decode.hpp"
#include "decode/emulate/emulate.hpp"

namespace {

namespace emu = decode::emulate;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr uint64_t kRamSize = 0x10000;
constexpr uint64_t kHole = 0x8000, kHoleEnd = 0x9000;

class FlatMemory final : public emu::LinearMemory {
 public:
  uint8_t ram[kRamSize];
  unsigned mutations = 0;

  emu::MemStatus read(uint64_t linear, void* dst, size_t bytes, emu::AccessType type) override {
    const emu::MemStatus s = probe(linear, bytes, type == emu::AccessType::write);
    if (s.ok()) memcpy(dst, ram + linear, bytes);
    return s;
  }
  emu::MemStatus write(uint64_t linear, const void* src, size_t bytes) override {
    const emu::MemStatus s = probe(linear, bytes, true);
    if (s.ok()) {
      memcpy(ram + linear, src, bytes);
      ++mutations;
    }
    return s;
  }
  emu::MemStatus cmpxchg(uint64_t linear, unsigned bytes, uint64_t expected, uint64_t desired,
                         uint64_t* observed) override {
    check(bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8);
    const emu::MemStatus s = probe(linear, bytes, true);
    if (!s.ok()) return s;
    uint64_t cur = 0;
    memcpy(&cur, ram + linear, bytes);
    *observed = cur;
    if (cur == expected) {
      memcpy(ram + linear, &desired, bytes);
      ++mutations;
    }
    return s;
  }

 private:
  // Every page of the range is checked before any byte moves (the seam's contract); the first
  // failing page is reported, at the first byte of the range inside it.
  emu::MemStatus probe(uint64_t linear, size_t bytes, bool write) {
    check(bytes >= 1 && bytes <= 4096);
    const uint64_t last_page = (linear + bytes - 1) & ~0xFFFull;
    for (uint64_t page = linear & ~0xFFFull;; page += 0x1000) {
      emu::MemStatus s;
      s.address = page < linear ? linear : page;
      if (page >= kRamSize) {  // (a range that wraps past 2^64 starts here too)
        s.outcome = emu::MemOutcome::page_fault;
        s.error_code = write ? 2u : 0u;  // not present; W/R
        return s;
      }
      if (page >= kHole && page < kHoleEnd) {
        s.outcome = emu::MemOutcome::bad_gpa;
        return s;
      }
      if (page == last_page) return emu::MemStatus::success();
    }
  }
};

uint64_t register_value(uint16_t seed) {
  const uint64_t off = seed & 0xFFF;
  switch (seed >> 12) {
    case 10: return kHole + off;
    case 11: return 0xFFFFF000ull + off;
    case 12: return 0x00007FFFFFFFF000ull + off;
    case 13: return ~0ull - off;
    case 14: return off & 0x3F;
    case 15: return 0x0101010101010101ull * (off & 0xFF);
    default: return (static_cast<uint64_t>(seed >> 12) << 12 | off) & (kRamSize - 1);
  }
}

FlatMemory g_mem;  // 64 KiB: static, not on the stack

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t in[18 + 64] = {};
  memcpy(in, data, size < sizeof in ? size : sizeof in);

  static const decode::CpuMode kModes[4] = {decode::CpuMode::bits64, decode::CpuMode::bits64,
                                            decode::CpuMode::bits32, decode::CpuMode::bits16};
  const uint8_t sel = in[0];
  emu::EmuContext ctx;
  ctx.mode = kModes[sel & 3];
  ctx.real_or_v86 = ctx.mode == decode::CpuMode::bits16 && (sel & 8);
  ctx.cpl = static_cast<uint8_t>((sel >> 4) & 3);
  ctx.cr0_am = (sel & 0x40) != 0;
  ctx.la57 = (sel & 0x80) != 0;
  static const uint64_t kFlagBits[8] = {1u << 0, 1u << 2, 1u << 4, 1u << 6, 1u << 7, 1u << 8, 1u << 10, 1u << 11};
  ctx.rflags = 2;
  for (unsigned i = 0; i < 8; ++i)
    if (in[1] & (1u << i)) ctx.rflags |= kFlagBits[i];
  if (in[2] & 1) ctx.rflags |= 1u << 18;  // AC
  ctx.rep_budget = in[2] >> 1;
  ctx.rip = 0x1000;

  uint64_t gpr[32];
  for (unsigned i = 0; i < 32; ++i) {
    const unsigned at = 18 + 2 * i;
    gpr[i] = at + 1 < sizeof in ? register_value(static_cast<uint16_t>(in[at] | in[at + 1] << 8)) : 0x100u * i;
  }
  // The same RAM contents for every input (refilled only after a write: 64 KiB per run is slow).
  static bool filled = false;
  if (!filled || g_mem.mutations) {
    for (uint64_t i = 0; i < kRamSize; ++i) g_mem.ram[i] = static_cast<uint8_t>(i * 31 + (i >> 8));
    filled = true;
    g_mem.mutations = 0;
  }
  ctx.gpr = gpr;
  ctx.mem = &g_mem;

  decode::Options o;
  o.mode = ctx.mode;
  o.apx = (sel & 4) == 0;
  o.real_mode = ctx.real_or_v86;
  const decode::Instruction insn = decode::decode(in + 3, 15, o);

  uint64_t before[32];
  memcpy(before, gpr, sizeof gpr);
  const uint64_t rflags = ctx.rflags, rip = ctx.rip;
  const emu::Result res = emu::emulate(insn, ctx);

  const unsigned outcome = static_cast<unsigned>(res.outcome);
  check(outcome <= static_cast<unsigned>(emu::Outcome::retry));
  check(res.outcome != emu::Outcome::retry);
  // What the decoder says the bytes raise comes first; other undecoded forms are not emulated.
  if (insn.fault == decode::Fault::ud)
    check(res.outcome == emu::Outcome::fault && res.exception.vector == emu::vector::UD);
  else if (insn.fault == decode::Fault::gp)
    check(res.outcome == emu::Outcome::fault && res.exception.vector == emu::vector::GP);
  else if (!insn.emulatable())
    check(res.outcome == emu::Outcome::unsupported && res.why == emu::Unsupported::not_decoded);
  const bool string = insn.ok() && insn.map == 0 && insn.encoding != decode::Encoding::evex &&
                      (insn.prefixes.rep || insn.prefixes.repne) &&
                      (insn.opcode == 0xA4 || insn.opcode == 0xA5 || insn.opcode == 0xAA || insn.opcode == 0xAB);
  if (res.outcome == emu::Outcome::ok) {
    check(insn.ok() && insn.length >= 1 && insn.length <= 15);
    if (res.completed) {
      const uint64_t m = ctx.mode == decode::CpuMode::bits64   ? ~0ull
                         : ctx.mode == decode::CpuMode::bits32 ? 0xFFFFFFFFull
                                                               : 0xFFFFull;
      check(ctx.rip == ((rip + insn.length) & m));
      check(res.single_step == ((rflags & (1u << 8)) != 0));
    } else {
      check(string && ctx.rip == rip);
    }
    return 0;
  }
  check(ctx.rip == rip);
  if (res.outcome == emu::Outcome::fault) {
    const emu::Exception& e = res.exception;
    switch (e.vector) {
      case emu::vector::UD: check(!e.has_error_code); break;
      case emu::vector::GP:
      case emu::vector::SS:
      case emu::vector::AC: check(e.has_error_code && e.error_code == 0); break;
      case emu::vector::PF:
        // every #PF here is a not-present page outside RAM
        check(e.has_error_code && (e.error_code & 1) == 0 && e.cr2 >= kRamSize);
        break;
      default: check(false);
    }
  }
  if (res.outcome == emu::Outcome::bad_gpa) check(res.gpa >= kHole && res.gpa < kHoleEnd);
  if (res.outcome == emu::Outcome::unsupported) check(res.why != emu::Unsupported::none);
  if (string) return 0;  // completed iterations of a REP string instruction stay done
  check(ctx.rflags == rflags);
  check(memcmp(before, gpr, sizeof gpr) == 0);
  check(g_mem.mutations == 0);
  return 0;
}
