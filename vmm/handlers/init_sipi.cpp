// Exit reasons 3 (INIT signal) and 4 (start-up IPI), SDM Vol 3C 26.2 "Other Causes of VM
// Exits": in VMX non-root operation INIT always exits instead of resetting the CPU, and a
// SIPI exits when the guest's activity state is wait-for-SIPI. apexvisor emulates what the
// hardware would do outside VMX (SDM Vol 3A 10.4, INIT-SIPI-SIPI): INIT parks the vCPU in
// wait-for-SIPI, the SIPI starts it in real mode at the vector's page (reset_state.cpp).
// Without this an OS that (re)starts its APs hangs (design.md pitfalls: "UEFI MP is
// one-shot", SimpleVisor #23, MiniVisorPkg #12/#15/#21).
#include "vmm/handlers/handlers.hpp"
#include "vmm/handlers/reset_state.hpp"
#include "vmx/controls.hpp"
#include "vmm/log/log.hpp"

namespace vmm {
namespace {
using vmx::VmcsField;
// Guest activity states (SDM Vol 3C 25.4.2): 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI.
constexpr uint64_t kActivityWaitForSipi = 3;
}  // namespace

static uint64_t g_dbg_sipi_total[8];
ExitAction handle_init_signal(ExitContext& ctx) {
  if (ctx.vcpu.index < 8 && g_dbg_sipi_total[ctx.vcpu.index] && ctx.vcpu.exits_total == g_dbg_sipi_total[ctx.vcpu.index] + 1 && ctx.vmcs.read(VmcsField::guest_rip) == 0) {
    APEX_LOG(info, "DBG ignoring INIT right after SIPI");
    g_dbg_sipi_total[ctx.vcpu.index] = ctx.vcpu.exits_total;
    (void)ctx.vmcs.write(VmcsField::guest_interruptibility_state, 0);
    return ExitAction::resume();
  }
  APEX_LOG(info, "DBG INIT state=%u rip=0x%llx cs=0x%llx csbase=0x%llx act=%llu intr=0x%llx total=%llu cr0=0x%llx", (unsigned)ctx.vcpu.state, (unsigned long long)ctx.vmcs.read(VmcsField::guest_rip), (unsigned long long)ctx.vmcs.read(VmcsField::guest_cs_selector), (unsigned long long)ctx.vmcs.read(VmcsField::guest_cs_base), (unsigned long long)ctx.vmcs.read(VmcsField::guest_activity_state), (unsigned long long)ctx.vmcs.read(VmcsField::guest_interruptibility_state), (unsigned long long)ctx.vcpu.exits_total, (unsigned long long)ctx.vmcs.read(VmcsField::guest_cr0));
  // Bochs 2.7 delivers the same INIT more than once; a CPU already waiting stays waiting.
  if (ctx.vcpu.state == VcpuState::wait_for_sipi) return ExitAction::resume();
  bool ok = ctx.vmcs.write(VmcsField::guest_activity_state, kActivityWaitForSipi);
  // VM entry into wait-for-SIPI requires no blocking by STI or MOV SS (SDM Vol 3C 27.3.1.5);
  // Bochs 2.7 may also report blocking by SMI here. Nothing is blocked in the new state.
  ok &= ctx.vmcs.write(VmcsField::guest_interruptibility_state, 0);
  // No event may be injected into wait-for-SIPI (27.3.1.5): a pending NMI is dropped, as
  // INIT drops it on hardware, and the NMI window (if one was open for it) is closed.
  ctx.vcpu.nmi_pending = false;
  const uint64_t proc = ctx.vmcs.read(VmcsField::primary_processor_based_controls);
  if (proc & vmx::proc::nmi_window_exiting)
    ok &= ctx.vmcs.write(VmcsField::primary_processor_based_controls, proc & ~uint64_t{vmx::proc::nmi_window_exiting});
  if (!ok) return ExitAction::stop("INIT: could not enter wait-for-SIPI (VMWRITE failed)");
  ctx.vcpu.state = VcpuState::wait_for_sipi;
  return ExitAction::resume();
}

ExitAction handle_startup_ipi(ExitContext& ctx) {
  APEX_LOG(info, "DBG SIPI state=%u q=0x%llx", (unsigned)ctx.vcpu.state, (unsigned long long)ctx.vmcs.read(VmcsField::exit_qualification));
  // A SIPI to a CPU that is not waiting for one is ignored, as on hardware (Vol 3A 10.4.2).
  if (ctx.vcpu.state != VcpuState::wait_for_sipi) return ExitAction::resume();
  // Exit qualification bits 7:0: the SIPI vector (SDM Vol 3C 28.2.1).
  const uint8_t vector = static_cast<uint8_t>(ctx.vmcs.read(VmcsField::exit_qualification) & 0xff);
  if (!ctx.policy.unrestricted_guest)
    return ExitAction::stop("SIPI: starting a CPU in real mode needs the unrestricted-guest control");
  if (!load_sipi_state(ctx, vector)) return ExitAction::stop("SIPI: loading the post-INIT state failed (VMWRITE)");
  APEX_LOG(info, "DBG SIPI done total=%llu", (unsigned long long)ctx.vcpu.exits_total);
  if (ctx.vcpu.index < 8) g_dbg_sipi_total[ctx.vcpu.index] = ctx.vcpu.exits_total;
  return ExitAction::resume();  // RIP was loaded, not advanced
}

}  // namespace vmm
