#include "vmm/hypercall.hpp"

#include "arch/little_endian.hpp"
#include "arch/spinlock.hpp"
#include "vmm/apic/ap_start_mode.hpp"

#include "arch/gpr.hpp"
#include "vmm/code_checksum.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/exit_context.hpp"
#include "vmm/monitor/monitor_abi.hpp"
#include "vmm/vcpu_registry.hpp"

namespace vmm {
namespace {

struct Args {
  uint64_t rbx, rcx;
  const Vcpu* caller;  // null when unknown (tests)
};

uint64_t& r(vmx::GprFile& regs, arch::Gpr g) { return regs.gpr[static_cast<unsigned>(g)]; }

HypercallStatus hc_version(vmx::GprFile& regs, const Args&, const Log&) {
  r(regs, arch::Gpr::rbx) = kHypercallInterfaceVersion;
  r(regs, arch::Gpr::rcx) = kHypercallSignature;
  return HypercallStatus::ok;
}

// Another CPU may be counting while this one reads; 64-bit aligned loads are atomic on x86
// (SDM Vol 3A 9.1.1), the relaxed atomic load says so to the compiler.
HypercallStatus hc_exit_counter(vmx::GprFile& regs, const Args& a, const Log&) {
  Vcpu* v = vcpu_by_index(a.rbx);
  if (!v) return HypercallStatus::unknown_cpu;
  if (a.rcx >= vmx::kExitReasonLimit) return HypercallStatus::bad_exit_reason;
  r(regs, arch::Gpr::rbx) = __atomic_load_n(&v->exit_counts[a.rcx], __ATOMIC_RELAXED);
  r(regs, arch::Gpr::rcx) = exits_total(*v);
  return HypercallStatus::ok;
}

HypercallStatus hc_read_log(vmx::GprFile& regs, const Args& a, const Log& log) {
  char bytes[kHypercallLogChunk] = {};
  const size_t n = log.read_ring(a.rbx, bytes, sizeof bytes);
  const arch::Gpr out[] = {arch::Gpr::rdx, arch::Gpr::rsi, arch::Gpr::rdi};
  for (unsigned w = 0; w < 3; ++w) r(regs, out[w]) = arch::load_le(reinterpret_cast<const uint8_t*>(bytes) + 8 * w, 8);
  r(regs, arch::Gpr::rcx) = n;
  return HypercallStatus::ok;
}

// log_line: one line being collected, machine-wide (the guest's loader prints from one CPU;
// chunks of two CPUs at once only garble the guests' own text).
struct GuestLine {
  arch::SpinLock lock;
  char text[kLogLineMax];
  unsigned length = 0;
  unsigned lines = 0;
};
GuestLine g_guest_line;

HypercallStatus hc_log_line(vmx::GprFile& regs, const Args& a, const Log&) {
  const uint64_t last = r(regs, arch::Gpr::rsi);
  if (last > 1) return HypercallStatus::bad_argument;
  GuestLine& g = g_guest_line;
  arch::SpinGuard guard(g.lock);
  if (g.lines >= kLogLinesMax) return HypercallStatus::log_suppressed;
  const uint64_t words[] = {a.rbx, a.rcx, r(regs, arch::Gpr::rdx)};
  bool ended = false;
  for (unsigned i = 0; i < kHypercallLogChunk && !ended; ++i) {
    const char c = static_cast<char>(words[i / 8] >> (8 * (i % 8)));
    if (c == 0) ended = true;
    else if (g.length < kLogLineMax - 1) g.text[g.length++] = c;
  }
  if (!last) return HypercallStatus::ok;
  if (g.length == 0 || g.text[g.length - 1] != '\n') g.text[g.length++] = '\n';
  global_log().write_line(g.text, g.length);
  g.length = 0;
  if (++g.lines == kLogLinesMax)
    APEX_LOG(warn, "log_line: %u lines from guests printed; further ones are suppressed", kLogLinesMax);
  return HypercallStatus::ok;
}

struct HypervisorCode {
  const uint8_t* begin = nullptr;
  size_t size = 0;
};
HypervisorCode g_code;

HypercallStatus hc_code_checksum(vmx::GprFile& regs, const Args&, const Log&) {
  r(regs, arch::Gpr::rbx) = fnv1a64(g_code.begin, g_code.size);
  r(regs, arch::Gpr::rcx) = g_code.size;
  return HypercallStatus::ok;
}

HypercallStatus hc_xsetbv_verdict(vmx::GprFile& regs, const Args& a, const Log&) {
  if (!a.caller) return HypercallStatus::unknown_cpu;
  const policy::XsetbvRecord& x = a.caller->last_xsetbv;
  const bool any = x.exits != 0;
  r(regs, arch::Gpr::rbx) = any ? static_cast<uint64_t>(x.verdict) : 0;
  r(regs, arch::Gpr::rcx) = any ? policy::xsetbv_verdict_vector(x.verdict) : 0;
  r(regs, arch::Gpr::rdx) = any ? x.index : 0;
  r(regs, arch::Gpr::rsi) = any ? x.value : 0;
  r(regs, arch::Gpr::rdi) = x.exits;
  return HypercallStatus::ok;
}

// The EPT the guest runs on, read without the live map's lock: a split links a complete
// table (vmm/ept/live_ept_lock.hpp), so a walk sees the old leaf or the new one.
struct HypercallEpt {
  const ept::EptIdentityMap* map = nullptr;
  uint64_t phys_limit = 0;
};
HypercallEpt g_ept;

HypercallStatus hc_ept_page(vmx::GprFile& regs, const Args& a, const Log&) {
  if (!g_ept.map) return HypercallStatus::no_ept;
  if (a.rbx >= g_ept.phys_limit) return HypercallStatus::bad_argument;
  const ept::EptTranslation t = g_ept.map->translate(a.rbx);
  uint64_t flags = 0;
  if (t.mapped) {
    flags = ept_page_flag::mapped | (t.r ? ept_page_flag::read : 0) | (t.w ? ept_page_flag::write : 0) |
            (t.x ? ept_page_flag::execute : 0) | (t.hidden ? ept_page_flag::hidden : 0) |
            (t.ignore_pat ? ept_page_flag::ignore_pat : 0);
  }
  r(regs, arch::Gpr::rbx) = t.mapped ? static_cast<uint64_t>(t.type) : 0;
  r(regs, arch::Gpr::rcx) = flags;
  r(regs, arch::Gpr::rdx) = t.mapped ? t.page_size : 0;
  return HypercallStatus::ok;
}

HypercallStatus hc_msr_verdict(vmx::GprFile& regs, const Args& a, const Log&) {
  if (!a.caller) return HypercallStatus::unknown_cpu;
  const MsrVerdict v = reported_msr_verdict(a.caller->last_msr);
  const bool any = v.exits != 0;
  r(regs, arch::Gpr::rbx) = any ? v.msr : 0;
  r(regs, arch::Gpr::rcx) = any ? msr_verdict_info(v) : 0;
  r(regs, arch::Gpr::rdx) = any ? v.host_value : 0;
  r(regs, arch::Gpr::rsi) = any ? v.guest_value : 0;
  r(regs, arch::Gpr::rdi) = v.exits;
  return HypercallStatus::ok;
}

HypercallStatus hc_single_step(vmx::GprFile& regs, const Args& a, const Log&) {
  if (!a.caller) return HypercallStatus::unknown_cpu;
  const SingleStepRecord& s = a.caller->single_step;
  r(regs, arch::Gpr::rbx) = s.pended;
  r(regs, arch::Gpr::rcx) = s.exit_reason;
  r(regs, arch::Gpr::rdx) = s.rip;
  r(regs, arch::Gpr::rsi) = s.pending_debug;
  r(regs, arch::Gpr::rdi) = s.pending_at_exit;
  return HypercallStatus::ok;
}

HypercallStatus hc_guest_policy(vmx::GprFile& regs, const Args& a, const Log&) {
  if (!a.caller || !a.caller->exit_context) return HypercallStatus::unknown_cpu;
  r(regs, arch::Gpr::rbx) = a.caller->exit_context->policy.dt_guard ? guest_policy_bit::dt_guard : 0;
  return HypercallStatus::ok;
}

HypercallStatus hc_ap_start_mode(vmx::GprFile& regs, const Args&, const Log&) {
  r(regs, arch::Gpr::rbx) = static_cast<uint64_t>(apic::ap_start_mode());
  return HypercallStatus::ok;
}

HypercallStatus hc_cpu_count(vmx::GprFile& regs, const Args&, const Log&) {
  r(regs, arch::Gpr::rbx) = vcpu_count();
  return HypercallStatus::ok;
}

// 16-19: the EPT write monitor (vmm/monitor/monitor_abi.hpp).
HypercallStatus hc_monitor_add(vmx::GprFile& regs, const Args& a, const Log&) {
  return monitor::hypercall_add(monitor::write_monitor(), regs, a.rbx, a.rcx);
}

HypercallStatus hc_monitor_remove(vmx::GprFile& regs, const Args& a, const Log&) {
  return monitor::hypercall_remove(monitor::write_monitor(), regs, a.rbx, a.rcx);
}

HypercallStatus hc_monitor_read_event(vmx::GprFile& regs, const Args& a, const Log&) {
  return monitor::hypercall_read_event(monitor::write_monitor(), regs, a.rbx, a.rcx);
}

HypercallStatus hc_monitor_stats(vmx::GprFile& regs, const Args&, const Log&) {
  return monitor::hypercall_stats(monitor::write_monitor(), regs);
}

}  // namespace

void set_hypervisor_code(const uint8_t* begin, size_t size) { g_code = {begin, size}; }

void set_hypercall_ept(const ept::EptIdentityMap* ept, uint64_t phys_limit) { g_ept = {ept, phys_limit}; }

const char* hypercall_name(uint64_t number) {
  switch (number) {
#define APEX_X(number, name, text) \
  case number: return #name;
    APEX_HYPERCALLS(APEX_X)
#undef APEX_X
  }
  return nullptr;
}

bool run_hypercall(vmx::GprFile& regs, bool wide, const Log& log, const Vcpu* caller) {
  const uint64_t mask = wide ? ~0ull : 0xffffffffull;
  const uint64_t number = r(regs, arch::Gpr::rax) & mask;
  const Args args{r(regs, arch::Gpr::rbx) & mask, r(regs, arch::Gpr::rcx) & mask, caller};
  HypercallStatus status;
  switch (number) {
#define APEX_X(number, name, text)                 \
  case number:                                     \
    status = hc_##name(regs, args, log);           \
    break;
    APEX_HYPERCALLS(APEX_X)
#undef APEX_X
    default:
      return false;
  }
  r(regs, arch::Gpr::rax) = static_cast<uint64_t>(status);
  return true;
}

}  // namespace vmm
