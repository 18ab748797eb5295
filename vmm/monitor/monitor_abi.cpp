#include "vmm/monitor/monitor_abi.hpp"

#include "arch/gpr.hpp"
#include "arch/little_endian.hpp"

namespace vmm::monitor {
namespace {

uint64_t& r(vmx::GprFile& regs, arch::Gpr g) { return regs.gpr[static_cast<unsigned>(g)]; }

}  // namespace

HypercallStatus to_hypercall_status(Status s) {
  switch (s) {
    case Status::ok: return HypercallStatus::ok;
    case Status::unavailable: return HypercallStatus::monitor_unavailable;
    case Status::bad_range: return HypercallStatus::monitor_bad_range;
    case Status::not_guest_ram: return HypercallStatus::monitor_not_ram;
    case Status::table_full: return HypercallStatus::monitor_table_full;
    case Status::overlap: return HypercallStatus::monitor_overlap;
    case Status::no_such_range: return HypercallStatus::monitor_no_such_range;
    case Status::ept_failed: return HypercallStatus::monitor_ept_failed;
    case Status::no_event: return HypercallStatus::monitor_no_event;
    case Status::event_lost: return HypercallStatus::monitor_event_lost;
  }
  return HypercallStatus::monitor_unavailable;
}

uint64_t event_info(const Event& e) {
  return static_cast<uint64_t>(e.size) | (static_cast<uint64_t>(e.insn_length) << 8) |
         (static_cast<uint64_t>(e.kind) << 16) | (static_cast<uint64_t>(e.egprs_valid ? 1 : 0) << 24) |
         (static_cast<uint64_t>(e.cpu) << 32);
}

HypercallStatus hypercall_add(WriteMonitor* m, vmx::GprFile&, uint64_t gpa, uint64_t size) {
  if (!m || !m->ready()) return HypercallStatus::monitor_unavailable;
  return to_hypercall_status(m->add(gpa, size));
}

HypercallStatus hypercall_remove(WriteMonitor* m, vmx::GprFile&, uint64_t gpa, uint64_t size) {
  if (!m || !m->ready()) return HypercallStatus::monitor_unavailable;
  return to_hypercall_status(m->remove(gpa, size));
}

HypercallStatus hypercall_read_event(WriteMonitor* m, vmx::GprFile& regs, uint64_t seq, uint64_t part) {
  if (!m || !m->ready()) return HypercallStatus::monitor_unavailable;
  if (part > kEventLastPart) return HypercallStatus::bad_argument;
  Event e{};
  const Status st = m->read_event(seq, &e);
  if (st != Status::ok) return to_hypercall_status(st);
  using arch::Gpr;
  if (part == 0) {
    r(regs, Gpr::rbx) = e.gpa;
    r(regs, Gpr::rcx) = e.rip;
    r(regs, Gpr::rdx) = e.old_value;
    r(regs, Gpr::rsi) = e.new_value;
  } else if (part == 1) {
    r(regs, Gpr::rbx) = e.linear;
    r(regs, Gpr::rcx) = e.seq;
    r(regs, Gpr::rdx) = arch::load_le(e.insn, 8);
    r(regs, Gpr::rsi) = arch::load_le(e.insn + 8, 8);
  } else {
    // Parts 2-5: R16..R31, four a part (zero when info bit 24 says none were kept).
    const unsigned first = 4 * static_cast<unsigned>(part - 2);
    r(regs, Gpr::rbx) = e.egprs[first];
    r(regs, Gpr::rcx) = e.egprs[first + 1];
    r(regs, Gpr::rdx) = e.egprs[first + 2];
    r(regs, Gpr::rsi) = e.egprs[first + 3];
  }
  r(regs, Gpr::rdi) = event_info(e);
  return HypercallStatus::ok;
}

HypercallStatus hypercall_stats(WriteMonitor* m, vmx::GprFile& regs) {
  if (!m || !m->ready()) return HypercallStatus::monitor_unavailable;
  const Stats s = m->stats();
  using arch::Gpr;
  r(regs, Gpr::rbx) = s.recorded;
  r(regs, Gpr::rcx) = s.dropped;
  r(regs, Gpr::rdx) = s.fallbacks;
  r(regs, Gpr::rsi) = s.emulated;
  r(regs, Gpr::rdi) = s.ranges | (uint64_t{kMaxRanges} << 16) | (uint64_t{kRingSize} << 32);
  return HypercallStatus::ok;
}

}  // namespace vmm::monitor
