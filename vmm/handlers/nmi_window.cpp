// Exit reason 8, NMI window (SDM Vol 3C 26.7.6 "NMI-Window Exiting"): the entry path
// (vmm/nmi_delivery.hpp place_pending_nmi) asked for it because the guest was blocking NMIs
// when one was pending. The guest can take an NMI now: close the window and inject it
// (type NMI, vector 2; SDM 27.6.1 "Vectored-Event Injection").
#include "vmm/handlers/handlers.hpp"
#include "vmm/nmi_delivery.hpp"
#include "vmx/controls.hpp"

namespace vmm {

ExitAction handle_nmi_window(ExitContext& ctx) {
  using vmx::VmcsField;
  const uint64_t proc = ctx.vmcs.read(VmcsField::primary_processor_based_controls);
  // Left set, the window would exit again before every guest instruction.
  if (!ctx.vmcs.write(VmcsField::primary_processor_based_controls, proc & ~uint64_t{vmx::proc::nmi_window_exiting}))
    return ExitAction::stop("NMI window: could not clear NMI-window exiting (VMWRITE failed)");
  if (!take_waiting_nmi(ctx.vcpu)) return ExitAction::resume();
  return ExitAction::inject({vector::NMI, EventType::nmi, false, 0});
}

}  // namespace vmm
