// Exit reasons 48 (EPT violation) and 49 (EPT misconfiguration), SDM Vol 3C 29.3.3.
// The EPT gives the guest all of its memory except the hypervisor's own (design.md "Memory
// types come from the MTRRs ... hypervisor memory is not reachable"), so either exit means
// the guest touched hidden memory or the tables are wrong: stop with the guest-physical
// address, the linear address when the CPU gives one, and the access, so the dump says what
// happened.
#include "vmm/ept_write_intercept.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/log/format.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

// Exit qualification for EPT violations (SDM Vol 3C 28.2.1, Table 28-7):
//   0 data read, 1 data write, 2 instruction fetch (the access that faulted);
//   3 readable, 4 writable, 5 executable (what the EPT entries allowed);
//   7 guest-linear-address field valid; 8 (if 7) the access was to the translated address
//   rather than to a paging-structure entry.
constexpr uint64_t kRead = 1u << 0, kWrite = 1u << 1, kFetch = 1u << 2;
constexpr uint64_t kReadable = 1u << 3, kWritable = 1u << 4, kExecutable = 1u << 5;
constexpr uint64_t kLinearValid = 1u << 7, kTranslated = 1u << 8;

char flag(uint64_t q, uint64_t bit, char c) { return (q & bit) ? c : '-'; }

}  // namespace

ExitAction handle_ept_violation(ExitContext& ctx) {
  const uint64_t q = ctx.vmcs.read(VmcsField::exit_qualification);
  const unsigned long long gpa = ctx.vmcs.read(VmcsField::guest_physical_address);
  // A write into a page the hypervisor protects on purpose (local APIC, write monitor).
  if ((q & kWrite) && !(q & kFetch))
    if (EptWriteIntercept* owner = find_ept_write_intercept(gpa)) return owner->on_write(ctx, gpa);
  char* out = ctx.vcpu.stop_detail;
  const size_t cap = sizeof ctx.vcpu.stop_detail;
  size_t n = format(out, cap, "EPT violation: gpa 0x%llx access %c%c%c allowed %c%c%c", gpa, flag(q, kRead, 'r'),
                    flag(q, kWrite, 'w'), flag(q, kFetch, 'x'), flag(q, kReadable, 'r'), flag(q, kWritable, 'w'),
                    flag(q, kExecutable, 'x'));
  if (n < cap) {
    if (q & kLinearValid)
      format(out + n, cap - n, " linear 0x%llx%s",
             static_cast<unsigned long long>(ctx.vmcs.read(VmcsField::guest_linear_address)),
             (q & kTranslated) ? "" : " (paging-structure walk)");
    else
      format(out + n, cap - n, " linear n/a");
  }
  return ExitAction::stop(out);
}

// SDM 28.2.1: an EPT misconfiguration leaves the exit qualification undefined and the
// guest-linear-address field invalid; only the guest-physical address is recorded.
ExitAction handle_ept_misconfiguration(ExitContext& ctx) {
  format(ctx.vcpu.stop_detail, sizeof ctx.vcpu.stop_detail,
         "EPT misconfiguration: gpa 0x%llx (a reserved or invalid EPT entry maps it)",
         static_cast<unsigned long long>(ctx.vmcs.read(VmcsField::guest_physical_address)));
  return ExitAction::stop(ctx.vcpu.stop_detail);
}

}  // namespace vmm
