// Exit reason 0, "exception or non-maskable interrupt" (SDM Vol 3C 26.2 / 28.2.2). apexvisor
// intercepts no exception (the exception bitmap is 0), so the only expected cause is an NMI:
// with "NMI exiting" every NMI that arrives in VMX non-root exits (SDM 26.2). It belongs to
// the guest and is re-injected before the next entry by the entry path (place_pending_nmi in
// vmm/nmi_delivery.hpp, which holds it for an NMI window if the guest blocks NMIs). Anything
// else stops the guest CPU: it would mean a control the hypervisor did not set.
#include "vmm/apic/ap_runtime.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/log/format.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

// VM-exit interruption information and IDT-vectoring information share one layout
// (SDM Vol 3C 28.2.2, 28.2.4): vector 7:0, type 10:8, error code valid 11, valid 31.
constexpr uint32_t kValid = 1u << 31;
constexpr uint8_t vector_of(uint64_t info) { return static_cast<uint8_t>(info & 0xff); }
constexpr uint8_t type_of(uint64_t info) { return static_cast<uint8_t>((info >> 8) & 7); }

}  // namespace

ExitAction handle_exception_or_nmi(ExitContext& ctx) {
  const uint64_t info = ctx.vmcs.read(VmcsField::vm_exit_interruption_info);
  if ((info & kValid) && type_of(info) == static_cast<uint8_t>(EventType::nmi)) {
    ctx.host.unblock_nmis();
    // A wake-up NMI from another CPU (it posted INIT/STARTUP to this CPU's mailbox, whose
    // pending-work bit the entry path acts on) is not the guest's.
    if (apic::is_wakeup_nmi(ctx.vcpu)) return ExitAction::resume();
    // In wait-for-SIPI the NMI is blocked, not lost (SDM Vol 3C, "Blocking of events": that
    // state blocks NMIs): the entry path holds it until the SIPI (vmm/nmi_delivery.hpp), as it
    // holds one that hit VMX root; nothing is injected into that state (27.3.1.5).
    ctx.vcpu.pending.set(pending::nmi);
    // An NMI exit can interrupt an event delivery (IDT-vectoring information valid, SDM
    // 28.2.4): the dispatcher has injected that event again already (ctx.event_delivery,
    // exit_dispatch.hpp); the pending NMI then waits for an NMI window (nmi_delivery.hpp).
    return ExitAction::resume();
  }
  format(ctx.vcpu.stop_detail, sizeof ctx.vcpu.stop_detail,
         "exception exit (info 0x%llx: vector %u type %u, error code 0x%llx) but no exception is intercepted",
         static_cast<unsigned long long>(info), vector_of(info), type_of(info),
         static_cast<unsigned long long>(ctx.vmcs.read(VmcsField::vm_exit_interruption_error_code)));
  return ExitAction::stop(ctx.vcpu.stop_detail);
}

}  // namespace vmm
