// Exit reasons 48 (EPT violation) and 49 (EPT misconfiguration), SDM Vol 3C 29.3.3.
// The EPT gives the guest the whole physical address space up to 2^MAXPHYADDR except the
// hypervisor's own memory, which reads as a page of zeros. An EPT violation is therefore a
// write the hypervisor watches on purpose (local APIC, write monitor: their owners handle it),
// a write into hypervisor memory (discarded: hypervisor_memory_write.hpp), the first access to
// a block above RAM that the EPT maps on demand (vmm/ept/ept_extent.hpp: mapped, the access
// re-executed; with the table pool exhausted, answered as by a bus where no device responds:
// no_device_memory.hpp), or a sign that the tables are wrong: then stop with the
// guest-physical address, the linear address when the CPU gives one, and the access, so the
// dump says what happened.
#include "vmm/ept_write_intercept.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/hypervisor_memory_write.hpp"
#include "vmm/guest_memory/no_device_memory.hpp"
#include "vmm/log/format.hpp"
#include "vmm/log/log.hpp"
#include "vmx/exit_qualification.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

// Exit qualification for EPT violations (SDM Vol 3C 28.2.1, Table 28-7; vmx/exit_qualification.hpp).
using namespace vmx::ept_violation_qual;

char flag(uint64_t q, uint64_t bit, char c) { return (q & bit) ? c : '-'; }

// Re-executing after the EPT changed. An event whose delivery the violation interrupted has
// already been injected again by the dispatcher (ctx.event_delivery, vmm/exit_dispatch.hpp).
ExitAction retry(ExitContext&) { return ExitAction::resume(); }

// The table pool is exhausted and nothing maps `gpa`: the instruction is emulated with the
// unmapped pages answering as no device does (reads all ones, writes dropped), the rest of
// guest memory as always; one the emulator cannot do is skipped. Never a stop.
ExitAction answer_without_device(ExitContext& ctx, uint64_t gpa) {
  APEX_LOG_GUEST(error, "cpu%u: EPT table pool exhausted: access to 0x%llx above RAM answered as by no device",
                 ctx.vcpu.index, static_cast<unsigned long long>(gpa));
  if (!ctx.policy.guest_ram) return ExitAction::stop("EPT table pool exhausted, and no guest-memory view to answer the access");
  if (ctx.event_delivery) return retry(ctx);  // a delivery: nothing at RIP to emulate
  guest_memory::NoDeviceMemory nothing(ctx.policy.guest_ram);
  bool unsupported = false;
  unsigned length = 0;
  ExitAction a = emulate_at_rip(ctx, nothing, nullptr, &unsupported, &length);
  if (!unsupported) return a;
  if (length == 0) return ExitAction::gp0();
  return skip_unemulated(ctx, length);
}

}  // namespace

ExitAction handle_ept_violation(ExitContext& ctx) {
  const uint64_t q = ctx.vmcs.read(VmcsField::exit_qualification);
  const unsigned long long gpa = ctx.vmcs.read(VmcsField::guest_physical_address);
  const bool write = (q & access_write) && !(q & access_fetch);
  const bool hypervisor = write && ctx.policy.hypervisor_memory && ctx.policy.hypervisor_memory(gpa);
  // The write is an event delivery's push (its stack on a trapped page): the dispatcher has
  // injected the event again (ctx.event_delivery); nothing at RIP ran, nothing is emulated.
  // Hypervisor memory first: a page sunk for another CPU's delivery is held by the monitor.
  if (ctx.event_delivery && write) {
    if (hypervisor) return deliver_into_hypervisor_memory(ctx, gpa);
    if (EptWriteIntercept* owner = find_ept_write_intercept(gpa)) return owner->on_event_delivery(ctx, gpa);
  }
  // A write into a page the hypervisor protects on purpose (local APIC, write monitor).
  if (write && !ctx.event_delivery)
    if (EptWriteIntercept* owner = find_ept_write_intercept(gpa)) return owner->on_write(ctx, gpa);
  // A write into hypervisor memory: discarded, the guest goes on (hypervisor_memory_write.hpp).
  if (hypervisor && !ctx.event_delivery) return discard_hypervisor_memory_write(ctx);
  // Above RAM, mapped on the first access (vmm/ept/ept_extent.hpp).
  if (ctx.policy.ept_on_demand) switch (ctx.policy.ept_on_demand(gpa)) {
      case OnDemandMap::mapped: return retry(ctx);
      case OnDemandMap::exhausted: return answer_without_device(ctx, gpa);
      case OnDemandMap::not_here: break;
    }
  char* out = ctx.vcpu.stop_detail;
  const size_t cap = sizeof ctx.vcpu.stop_detail;
  size_t n = format(out, cap, "EPT violation: gpa 0x%llx access %c%c%c allowed %c%c%c", gpa, flag(q, access_read, 'r'),
                    flag(q, access_write, 'w'), flag(q, access_fetch, 'x'), flag(q, allowed_read, 'r'),
                    flag(q, allowed_write, 'w'), flag(q, allowed_execute, 'x'));
  if (n < cap) {
    if (q & linear_valid)
      format(out + n, cap - n, " linear 0x%llx%s",
             static_cast<unsigned long long>(ctx.vmcs.read(VmcsField::guest_linear_address)),
             (q & translated) ? "" : " (paging-structure walk)");
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
