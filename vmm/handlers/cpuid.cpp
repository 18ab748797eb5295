// CPUID exit (SDM Vol 3C 26.1.2: CPUID always exits). The host's answer, filtered by the
// guest policy (vmm/policy/cpuid_filter): hypervisor-present bit, leaves 40000000h+, VMX
// hidden, APX shown or hidden consistently.
#include "vmm/handlers/cpuid_exit.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/policy/cpuid_filter.hpp"

namespace vmm {
namespace {

// CPUID writes the 32-bit results zero-extended into RAX/RBX/RCX/RDX.
void set_result(vmx::GprFile& regs, const policy::CpuidRegs& r) {
  regs.gpr[0] = r.eax;
  regs.gpr[3] = r.ebx;
  regs.gpr[1] = r.ecx;
  regs.gpr[2] = r.edx;
}

}  // namespace

[[gnu::noinline]] void cpuid_filter_for_guest(ExitContext& ctx) {
  const auto& g = ctx.vcpu.regs.gpr;
  const uint32_t leaf = static_cast<uint32_t>(g[0]), subleaf = static_cast<uint32_t>(g[1]);
  policy::CpuidRegs r = ctx.host.cpuid(leaf, subleaf);
  policy::GuestXstateView view{ctx.vcpu.xstate.xcr0, 0};
  // CR4 as the guest sees it: OSXSAVE and PKE are guest-owned (not in the CR4 guest/host
  // mask), so a guest that sets them does so without an exit and the read shadow keeps the
  // old value; only owned bits come from the shadow.
  if (policy::cpuid_filter_reads_cr4(leaf)) view.cr4 = guest_visible_cr4(ctx.vmcs);
  policy::filter_cpuid(leaf, subleaf, r, ctx.policy.apx, view);
  set_result(ctx.vcpu.regs, r);
}

ExitAction handle_cpuid(ExitContext& ctx) { return cpuid_exit(ctx, ctx.vcpu, ctx.host); }

}  // namespace vmm
