#include "decode/emulate/segmentation.hpp"

#include "arch/cr_bits.hpp"
#include "decode/emulate/alu.hpp"

namespace decode::emulate {

namespace {

uint64_t reg_value(const Reg& r, const uint64_t* gpr) {
  if (!r.is_gpr()) return 0;
  return gpr[r.num & 31] & alu::mask(r.bits ? r.bits : 64);
}

}  // namespace

uint64_t effective_address(const Mem& m, const uint64_t* gpr, uint64_t next_rip) {
  uint64_t ea = static_cast<uint64_t>(m.disp);
  if (m.rip_relative())
    ea += next_rip;
  else
    ea += reg_value(m.base, gpr);
  if (m.index.present() && m.scale) ea += reg_value(m.index, gpr) * m.scale;
  return ea & alu::mask(m.addr_bits ? m.addr_bits : 64);
}

Linear segment_access(const EmuContext& ctx, Sreg s, uint64_t ea, unsigned bytes, bool write) {
  Linear out;
  out.fault = (s == Sreg::ss) ? Exception::ss0() : Exception::gp0();
  const Segment& seg = ctx.segment(s);
  const uint64_t last = bytes ? bytes - 1 : 0;

  if (ctx.mode == CpuMode::bits64) {
    // Vol 1 3.3.7.1: CS/DS/ES/SS bases are treated as 0, FS/GS bases are used; no limits.
    const uint64_t base = (s == Sreg::fs || s == Sreg::gs) ? seg.base : 0;
    const uint64_t linear = base + ea;
    if (!canonical(linear, ctx.la57) || !canonical(linear + last, ctx.la57)) return out;
    out.ok = true;
    out.address = linear;
    return out;
  }

  if (!ctx.real_or_v86) {
    // Vol 3A 5.4.1 / 3.4.3: a null (unusable) segment, writing a code or read-only data
    // segment, or reading an execute-only code segment raises #GP(0) (#SS(0) for SS).
    if (seg.unusable()) return out;
    if (write ? !seg.writable() : !seg.readable()) return out;
  }
  // Vol 3A 5.3: every byte of the access must lie inside the limit. Expand-down data segments
  // hold the offsets limit+1 .. 0xFFFF (B=0) or 0xFFFFFFFF (B=1).
  if (!ctx.real_or_v86 && seg.expand_down()) {
    const uint64_t upper = seg.big() ? 0xFFFFFFFFull : 0xFFFFull;
    if (ea <= seg.limit || ea > upper || last > upper - ea) return out;
  } else {
    if (ea > seg.limit || last > seg.limit - ea) return out;
  }
  out.ok = true;
  out.address = (seg.base + ea) & 0xFFFFFFFFull;  // linear addresses are 32 bits here
  return out;
}

bool alignment_fault(const EmuContext& ctx, uint64_t linear, unsigned bytes) {
  if (!ctx.cr0_am || !(ctx.rflags & arch::rflags::AC) || ctx.cpl != 3) return false;
  if (bytes != 2 && bytes != 4 && bytes != 8) return false;
  return (linear & (bytes - 1)) != 0;
}

}  // namespace decode::emulate
