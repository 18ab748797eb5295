// Exit reason 2, triple fault (SDM Vol 3C 26.2): an exception while delivering #DF, or any
// other cause of shutdown. Outside VMX the CPU enters the shutdown state (SDM Vol 3A 6.15,
// "Interrupt 8"): it runs nothing until an INIT, NMI, SMI or RESET; what the platform does
// with the shutdown bus cycle (a front-panel light, a reset) is the chipset's choice, not the
// processor's. apexvisor gives the vCPU exactly that state: the next VM entry puts it in the
// shutdown activity state (SDM Vol 3C 25.4.2), from which
//   - INIT exits (always, in VMX non-root): an AP then waits for a SIPI, the BSP restarts at
//     the reset vector (handlers/init_sipi.cpp), so an OS can restart a CPU that shut down;
//   - an NMI exits (NMI exiting) and is injected, which the entry checks allow into shutdown
//     (27.3.1.5) and which wakes the CPU into its NMI handler, as on hardware; a shutdown
//     inside an NMI handler keeps NMIs blocked, so only INIT restarts that CPU (6.15).
// The VM entry into shutdown also sends the shutdown special bus cycle (SDM Vol 3C, VM
// entries, "Activity State"), so the platform answers as it would without apexvisor: many
// chipsets reset the machine or INIT every CPU on it (on Bochs nothing happens, and the other
// CPUs run on). A guest able to triple-fault can reset the platform through port CF9H anyway. Where the CPU cannot
// enter that activity state (IA32_VMX_MISC[7] clear) the guest CPU stops with a dump, the only
// other defined end.
#include "vmm/handlers/handlers.hpp"
#include "vmm/log/log.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmx/guest_non_register_state.hpp"

namespace vmm {
namespace {
using vmx::VmcsField;
constexpr uint64_t kActivityShutdown = 2;  // SDM Vol 3C 25.4.2
}  // namespace

ExitAction handle_triple_fault(ExitContext& ctx) { return enter_shutdown_state(ctx); }

ExitAction enter_shutdown_state(ExitContext& ctx) {
  if (!ctx.policy.activity_shutdown)
    return ExitAction::stop("triple fault: the guest shut down, and this CPU has no shutdown activity state "
                            "(IA32_VMX_MISC[7])");
  // A step of the write monitor in progress (a delivery into a sink or onto a watched page
  // that shut the CPU down) ends now: no MTF or timer exit comes in the shutdown state, and
  // its pages must not stay open or redirected meanwhile.
  if (monitor::WriteMonitor* m = monitor::write_monitor()) {
    const ExitAction ended = m->end_step_for_shutdown(ctx);
    if (ended.kind == ExitAction::Kind::stop) return ended;
  }
  namespace intr = vmx::interruptibility;
  // VM entry into an inactive state needs no blocking by STI or MOV SS (27.3.1.5); shutdown
  // ends both. Blocking by NMI stays: it is what keeps a CPU that shut down in its NMI handler
  // there.
  const uint64_t blocking = ctx.vmcs.read(VmcsField::guest_interruptibility_state);
  bool ok = ctx.vmcs.write(VmcsField::guest_interruptibility_state,
                           blocking & ~(intr::blocking_by_sti | intr::blocking_by_mov_ss));
  // Nothing of the event that shut the CPU down is delivered (only an NMI may be injected
  // into shutdown; the entry path injects a pending one).
  ok &= ctx.vmcs.write(VmcsField::vm_entry_interruption_info, 0);
  // Pending debug exceptions are lost on entry into shutdown (SDM Vol 3C, VM entries,
  // "Delivery of Pending Debug Exceptions after VM Entry"); cleared, so that a leftover
  // single-step trap does not hold off an NMI's injection.
  ok &= ctx.vmcs.write(VmcsField::guest_pending_debug_exceptions, 0);
  ok &= ctx.vmcs.write(VmcsField::guest_activity_state, kActivityShutdown);
  if (!ok) return ExitAction::stop("triple fault: could not enter the shutdown state (VMWRITE failed)");
  APEX_LOG_GUEST(warn, "cpu%u: triple fault: this CPU is in the shutdown state until INIT or NMI, as on hardware",
                 ctx.vcpu.index);
  return ExitAction::resume();  // RIP stays: an NMI's handler returns to where the CPU shut down
}

}  // namespace vmm
