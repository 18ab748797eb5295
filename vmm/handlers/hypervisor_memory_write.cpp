#include "vmm/handlers/hypervisor_memory_write.hpp"

#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/monitor/write_monitor.hpp"

namespace vmm {

ExitAction discard_hypervisor_memory_write(ExitContext& ctx) {
  if (!ctx.policy.guest_ram)
    return ExitAction::stop("guest write into hypervisor memory, and no guest-memory view to discard it");
  bool unsupported = false;
  unsigned length = 0;
  // The view discards and counts each write into hypervisor memory (count_discarded_write).
  ExitAction a = emulate_at_rip(ctx, *ctx.policy.guest_ram, nullptr, &unsupported, &length);
  if (!unsupported) return a;
  if (length == 0) return ExitAction::gp0();  // not even decodable: as for a bad fetch
  // Skipped as a whole: RIP past it, retired as an emulated instruction is.
  guest_memory::count_discarded_write(ctx.vcpu);
  return skip_unemulated(ctx, length);
}

ExitAction deliver_into_hypervisor_memory(ExitContext& ctx, uint64_t gpa) {
  monitor::WriteMonitor* m = monitor::write_monitor();
  if (!m) return ExitAction::stop("event delivery into hypervisor memory, and no step mechanism to complete it");
  return m->sink_delivery_write(ctx, gpa);
}

}  // namespace vmm
