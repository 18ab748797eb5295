// CodeFetch (code_fetch.hpp) and fetch_instruction(): the guest instruction at CS:RIP, read
// through the guest's paging as instruction fetches, and decoded. SDM Vol 3A 5.3 (CS limit),
// Vol 1 3.3.7.1 (canonical RIP), Vol 2A 2.3.11 (at most 15 bytes, #GP beyond).
#include "decode/decode.hpp"
#include "decode/emulate/code_fetch.hpp"
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

Result CodeFetch::start(const EmuContext& ctx) {
  Result r;
  have_ = 0;
  mem_ = ctx.mem;
  if (!mem_) {
    r.outcome = Outcome::unsupported;
    r.why = Unsupported::no_context;
    return r;
  }
  max_ = kMaxInstructionLength;
  long_mode_ = ctx.mode == CpuMode::bits64;
  if (long_mode_) {
    if (!canonical(ctx.rip, ctx.la57)) return fetch_fault(Exception::gp0());
    linear_ = ctx.rip;
  } else {
    // Every byte fetched must lie within the CS limit; an instruction that crosses it #GPs.
    const Segment& cs = ctx.segment(Sreg::cs);
    const uint64_t offset = ctx.rip & (ctx.mode == CpuMode::bits16 ? 0xFFFFull : 0xFFFFFFFFull);
    if (offset > cs.limit) return fetch_fault(Exception::gp0());
    if (cs.limit - offset + 1 < max_) max_ = static_cast<size_t>(cs.limit - offset + 1);
    linear_ = (cs.base + offset) & 0xFFFFFFFFull;
  }
  // First the part on the current page, so that a fault on the next page is only raised when
  // the instruction really continues there (grow()).
  size_t first = static_cast<size_t>(kPageSize - (linear_ & (kPageSize - 1)));
  if (first > max_) first = max_;
  const MemStatus s = mem_->read(linear_, bytes_, first, AccessType::fetch);
  if (!s.ok()) return fetch_failed(s);
  have_ = first;
  return r;
}

Result CodeFetch::grow() {
  Result r;
  if (!can_grow()) return r;
  uint64_t next = linear_ + have_;
  if (!long_mode_) next &= 0xFFFFFFFFull;
  const MemStatus s = mem_->read(next, bytes_ + have_, max_ - have_, AccessType::fetch);
  if (!s.ok()) return fetch_failed(s);
  have_ = max_;
  return r;
}

Result fetch_instruction(EmuContext& ctx, bool apx, Instruction& out) {
  out = Instruction{};
  Options options;
  options.mode = ctx.mode;
  options.apx = apx;
  options.real_mode = ctx.real_or_v86 && ctx.mode == CpuMode::bits16;

  CodeFetch f;
  Result r = f.start(ctx);
  if (r.outcome != Outcome::ok) return r;
  decode_into(f.bytes(), f.size(), options, out);
  if (out.fault == Fault::truncated && f.can_grow()) {
    r = f.grow();
    if (r.outcome != Outcome::ok) return r;
    decode_into(f.bytes(), f.size(), options, out);
  }
  // Still truncated: the instruction runs past the CS limit (or past 15 bytes).
  if (out.fault == Fault::truncated) return fetch_fault(Exception::gp0());
  return r;
}

}  // namespace decode::emulate
