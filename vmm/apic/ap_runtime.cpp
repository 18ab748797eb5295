#include "vmm/apic/ap_runtime.hpp"

#include "vmm/handlers/reset_state.hpp"
#include "vmm/log/log.hpp"

namespace vmm::apic {

bool drain_ap_mailbox(ExitContext& ctx) {
  Vcpu& v = ctx.vcpu;
  ApEvent e{};
  while (v.mailbox.take(&e)) {
    if (e.kind == ApEvent::Kind::init) {
      // The BSP restarts at the reset vector instead of waiting (reset_state.hpp).
      if (is_bootstrap_processor(ctx)) {
        if (restart_bootstrap_processor(ctx).kind == ExitAction::Kind::stop) {
          v.state = VcpuState::stopped;
          return false;
        }
        continue;
      }
      if (v.ap.on_init() == ApAction::enter_wait) {
        v.state = VcpuState::wait_for_sipi;
        (void)drop_pending_nmi(ctx);  // INIT discards a pending NMI, as on hardware (and its window)
        APEX_LOG(debug, "cpu%u: INIT (intercepted): waiting for STARTUP", v.index);
      }
      continue;
    }
    if (v.ap.on_startup() != ApAction::start_at_vector) continue;  // ignored, as on hardware
    if (!load_sipi_state(ctx, e.vector)) {
      APEX_LOG_GUEST(error, "cpu%u: STARTUP 0x%x: loading the real-mode state failed", v.index, e.vector);
      v.state = VcpuState::stopped;
      return false;
    }
    v.state = VcpuState::active;
    APEX_LOG_GUEST(debug, "cpu%u: STARTUP (intercepted) at 0x%x000", v.index, e.vector);
  }
  return v.ap.state == ApState::running && v.state != VcpuState::stopped;
}

bool is_wakeup_nmi(Vcpu& vcpu) { return vcpu.mailbox.consume_kick(); }

}  // namespace vmm::apic
