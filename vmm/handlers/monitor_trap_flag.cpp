// Exit reason 37, monitor trap flag (SDM Vol 3C 26.5.2 "Monitor Trap Flag", 27.2 / 28.2). Only
// the EPT write monitor arms MTF (vmm/monitor/write_monitor.hpp): for one instruction it could
// not emulate, the guest executed it with the watched page writable; now the page is compared
// with its snapshot, protected again, and MTF cleared. An MTF exit nobody asked for (no
// monitor, or no step pending on this CPU) only clears the control: left set, it would exit
// after every guest instruction.
#include "vmm/handlers/handlers.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmx/controls.hpp"

namespace vmm {

ExitAction handle_monitor_trap_flag(ExitContext& ctx) {
  if (monitor::WriteMonitor* m = monitor::write_monitor()) return m->on_mtf(ctx);
  using vmx::VmcsField;
  const uint64_t proc = ctx.vmcs.read(VmcsField::primary_processor_based_controls);
  if (!ctx.vmcs.write(VmcsField::primary_processor_based_controls, proc & ~uint64_t{vmx::proc::monitor_trap_flag}))
    return ExitAction::stop("MTF: could not clear the monitor-trap flag (VMWRITE failed)");
  return ExitAction::resume();
}

}  // namespace vmm
