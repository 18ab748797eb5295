// Exit reasons 3 (INIT signal) and 4 (start-up IPI), SDM Vol 3C 26.2 "Other Causes of VM
// Exits": in VMX non-root operation INIT always exits instead of resetting the CPU, and a
// SIPI exits when the guest's activity state is wait-for-SIPI. apexvisor emulates what the
// hardware would do outside VMX (SDM Vol 3A 10.4, INIT-SIPI-SIPI): INIT parks the vCPU in
// wait-for-SIPI, the SIPI starts it in real mode at the vector's page (reset_state.cpp); INIT
// to the bootstrap processor restarts it at the reset vector, as hardware does.
// Without this an OS that (re)starts its APs hangs (design.md pitfalls: "UEFI MP is
// one-shot", SimpleVisor #23, MiniVisorPkg #12/#15/#21).
#include "vmm/handlers/handlers.hpp"
#include "vmm/handlers/reset_state.hpp"
#include "arch/cr_bits.hpp"
#include "vmm/log/log.hpp"
#include "vmx/controls.hpp"

namespace vmm {
namespace {
using vmx::VmcsField;
// Guest activity states (SDM Vol 3C 25.4.2): 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI.
constexpr uint64_t kActivityWaitForSipi = 3;

// The guest sits exactly where a SIPI started it (RIP 0 of a real-mode page below 1 MiB) and
// has not run an instruction since.
bool at_sipi_start(vmx::VmcsAccess& v) {
  const uint64_t base = v.read(VmcsField::guest_cs_base);
  return v.read(VmcsField::guest_rip) == 0 && !(v.read(VmcsField::cr0_read_shadow) & arch::cr0::PE) &&
         base == v.read(VmcsField::guest_cs_selector) << 4 && (base & 0xfff) == 0 && base < 0x100000;
}
}  // namespace

ExitAction restart_bootstrap_processor(ExitContext& ctx) {
  if (!load_reset_vector_state(ctx)) return ExitAction::stop("INIT to the BSP: loading the reset state failed");
  if (!drop_pending_nmi(ctx)) return ExitAction::stop("INIT to the BSP: could not close the NMI window (VMWRITE failed)");
  APEX_LOG_GUEST(warn, "cpu%u: INIT to the bootstrap processor: restarted at the reset vector (FFFFFFF0H), "
                 "as hardware does", ctx.vcpu.index);
  return ExitAction::resume();  // RIP was loaded, not advanced
}

ExitAction handle_init_signal(ExitContext& ctx) {
  // INIT is blocked in wait-for-SIPI on hardware; an emulator that reports it again (Bochs
  // 2.7 repeats INIT exits) changes nothing: a CPU already waiting stays waiting.
  if (ctx.vcpu.state == VcpuState::wait_for_sipi) return ExitAction::resume();
  // The BSP does not wait for a SIPI: it runs the firmware's boot-strap code again.
  if (is_bootstrap_processor(ctx)) return restart_bootstrap_processor(ctx);
  // Wait-for-SIPI blocks INIT in VMX non-root operation (SDM Vol 3C, VM entries, "Blocking
  // of events after VM entry": that state blocks external interrupts, NMIs, INITs and SMIs):
  // an INIT sent to a CPU that waits stays pending and exits as soon as the SIPI has made the
  // CPU active, before its first instruction. Outside VMX the same INIT would have found the
  // CPU waiting and changed nothing, so the first such exit after a SIPI is ignored and the
  // CPU runs from the SIPI's vector. Only the exit right after the SIPI's can be that INIT
  // (the CPU has not run since): an AP looping at IP 0 of its page takes later INITs as
  // usual. (An INIT really sent in the instant between the SIPI and the first instruction is
  // indistinguishable and is ignored too.) Bochs 2.7 keeps every
  // INIT that exited latched and reports it again on each entry: the second exit at the same
  // point parks the CPU, which then waits for a SIPI the OS already sent.
  if (at_sipi_start(ctx.vmcs)) {
    if (exits_total(ctx.vcpu) == ctx.vcpu.sipi_start_exits + 1) {
      ctx.vcpu.sipi_start_exits = 0;  // once: a second INIT exit here parks the CPU
      APEX_LOG_GUEST(info, "cpu%u: INIT before the first instruction after SIPI: the INIT wait-for-SIPI held, ignored "
                     "(outside VMX it would have found the CPU waiting)", ctx.vcpu.index);
      return ExitAction::resume();
    }
    APEX_LOG_GUEST(warn, "cpu%u: INIT before the first instruction after SIPI, again; waiting for another SIPI "
             "(Bochs 2.7 re-delivers a latched INIT)", ctx.vcpu.index);
  }
  bool ok = ctx.vmcs.write(VmcsField::guest_activity_state, kActivityWaitForSipi);
  // VM entry into wait-for-SIPI requires no blocking by STI or MOV SS (SDM Vol 3C 27.3.1.5);
  // Bochs 2.7 may also report blocking by SMI here. Nothing is blocked in the new state.
  ok &= ctx.vmcs.write(VmcsField::guest_interruptibility_state, 0);
  // No event may be injected into wait-for-SIPI (27.3.1.5): a pending NMI is dropped, as
  // INIT drops it on hardware, and the NMI window (if one was open for it) is closed.
  ok &= drop_pending_nmi(ctx);
  if (!ok) return ExitAction::stop("INIT: could not enter wait-for-SIPI (VMWRITE failed)");
  ctx.vcpu.state = VcpuState::wait_for_sipi;
  return ExitAction::resume();
}

ExitAction handle_startup_ipi(ExitContext& ctx) {
  // A SIPI to a CPU that is not waiting for one is ignored, as on hardware (Vol 3A 10.4.2).
  if (ctx.vcpu.state != VcpuState::wait_for_sipi) return ExitAction::resume();
  // Exit qualification bits 7:0: the SIPI vector (SDM Vol 3C 28.2.1).
  const uint8_t vector = static_cast<uint8_t>(ctx.vmcs.read(VmcsField::exit_qualification) & 0xff);
  if (!ctx.policy.unrestricted_guest)
    return ExitAction::stop("SIPI: starting a CPU in real mode needs the unrestricted-guest control");
  if (!load_sipi_state(ctx, vector)) return ExitAction::stop("SIPI: loading the post-INIT state failed (VMWRITE)");
  ctx.vcpu.sipi_start_exits = exits_total(ctx.vcpu);  // this SIPI exit included
  return ExitAction::resume();  // RIP was loaded, not advanced
}

}  // namespace vmm
