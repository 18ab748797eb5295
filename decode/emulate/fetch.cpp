// fetch_instruction(): the guest instruction at CS:RIP, read through the guest's paging as
// instruction fetches and decoded. SDM Vol 3A 5.3 (CS limit), Vol 1 3.3.7.1 (canonical RIP),
// Vol 2A 2.3.11 (at most 15 bytes, #GP beyond).
#include "decode/decode.hpp"
#include "decode/emulate/alu.hpp"
#include "decode/emulate/emulate.hpp"
#include "decode/emulate/segmentation.hpp"

namespace decode::emulate {

namespace {

constexpr uint64_t kPageSize = 4096;

Result fetch_fault(const Exception& e) {
  Result r;
  r.outcome = Outcome::fault;
  r.exception = e;
  return r;
}

// MemStatus of a failed fetch → Result.
Result fetch_failed(const MemStatus& s) {
  Result r;
  switch (s.outcome) {
    case MemOutcome::page_fault: return fetch_fault(Exception::pf(s.error_code, s.address));
    case MemOutcome::bad_gpa:
      r.outcome = Outcome::bad_gpa;
      r.gpa = s.address;
      return r;
    default: r.outcome = Outcome::retry; return r;
  }
}

}  // namespace

Result fetch_instruction(EmuContext& ctx, bool apx, Instruction& out) {
  out = Instruction{};
  Result r;
  if (!ctx.mem) {
    r.outcome = Outcome::unsupported;
    r.why = Unsupported::no_context;
    return r;
  }
  uint64_t linear = 0;
  size_t max = kMaxInstructionLength;
  const bool long_mode = ctx.mode == CpuMode::bits64;
  if (long_mode) {
    if (!canonical(ctx.rip, ctx.la57)) return fetch_fault(Exception::gp0());
    linear = ctx.rip;
  } else {
    // Every byte fetched must lie within the CS limit; an instruction that crosses it #GPs.
    const Segment& cs = ctx.segment(Sreg::cs);
    const uint64_t offset = ctx.rip & (ctx.mode == CpuMode::bits16 ? 0xFFFFull : 0xFFFFFFFFull);
    if (offset > cs.limit) return fetch_fault(Exception::gp0());
    if (cs.limit - offset + 1 < max) max = static_cast<size_t>(cs.limit - offset + 1);
    linear = (cs.base + offset) & 0xFFFFFFFFull;
  }

  Options options;
  options.mode = ctx.mode;
  options.apx = apx;
  options.real_mode = ctx.real_or_v86 && ctx.mode == CpuMode::bits16;

  uint8_t bytes[kMaxInstructionLength + 1] = {};
  // First the part on the current page, so that a fault on the next page is only raised when
  // the instruction really continues there.
  size_t have = static_cast<size_t>(kPageSize - (linear & (kPageSize - 1)));
  if (have > max) have = max;
  MemStatus s = ctx.mem->read(linear, bytes, have, AccessType::fetch);
  if (!s.ok()) return fetch_failed(s);
  decode_into(bytes, have, options, out);
  if (out.fault == Fault::truncated && have < max) {
    uint64_t next = linear + have;
    if (!long_mode) next &= 0xFFFFFFFFull;
    s = ctx.mem->read(next, bytes + have, max - have, AccessType::fetch);
    if (!s.ok()) return fetch_failed(s);
    have = max;
    decode_into(bytes, have, options, out);
  }
  // Still truncated: the instruction runs past the CS limit (or past 15 bytes).
  if (out.fault == Fault::truncated) return fetch_fault(Exception::gp0());
  return r;
}

}  // namespace decode::emulate
