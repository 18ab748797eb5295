// Exit reason 18, VMCALL (SDM Vol 3C 26.1.2: VMCALL always exits in VMX non-root, at any
// CPL). apexvisor's hypercalls (vmm/hypercall.hpp has the ABI and the table) are for the
// guest's kernel only: at CPL > 0, or for an unknown number, the guest gets #UD — what
// VMCALL raises on a CPU that is not in VMX non-root operation (Vol 3C 31.3 VMCALL).
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/hypercall.hpp"

namespace vmm {

ExitAction handle_vmcall(ExitContext& ctx) {
  if (guest_cpl(ctx.vmcs) != 0) return ExitAction::ud();
  if (!run_hypercall(ctx.vcpu.regs, guest_in_64bit_mode(ctx.vmcs), global_log(), &ctx.vcpu)) return ExitAction::ud();
  return ExitAction::advance();
}

}  // namespace vmm
