// Exit reasons 37, monitor trap flag (SDM Vol 3C 26.5.2 "Monitor Trap Flag"), and 52,
// VMX-preemption timer expired (26.5.1). Only the EPT write monitor arms either
// (vmm/monitor/write_monitor.hpp, StepMethod): for one instruction it could not emulate, the
// guest executed it with the watched page writable; now the page is compared with its
// snapshot, protected again, and the control cleared. An exit nobody asked for (no monitor,
// or no step pending on this CPU) only clears the controls: left set, MTF would exit after
// every guest instruction.
#include "vmm/handlers/handlers.hpp"
#include "vmm/monitor/write_monitor.hpp"

namespace vmm {

namespace {
ExitAction step_exit(ExitContext& ctx) {
  if (monitor::WriteMonitor* m = monitor::write_monitor()) return m->on_step_exit(ctx);
  if (!monitor::disarm_step(ctx.vmcs)) return ExitAction::stop("MTF/preemption timer: could not clear the control (VMWRITE failed)");
  return ExitAction::resume();
}
}  // namespace

ExitAction handle_monitor_trap_flag(ExitContext& ctx) { return step_exit(ctx); }
ExitAction handle_preemption_timer_expired(ExitContext& ctx) { return step_exit(ctx); }

}  // namespace vmm
