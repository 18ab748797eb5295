// CPUID exit (SDM Vol 3C 26.1.2: CPUID always exits). The host's answer, filtered by the
// guest policy (vmm/policy/cpuid_filter): hypervisor-present bit, leaves 40000000h+, VMX
// hidden, APX shown or hidden consistently.
#include "vmm/handlers/handlers.hpp"
#include "vmm/policy/cpuid_filter.hpp"

namespace vmm {

ExitAction handle_cpuid(ExitContext& ctx) {
  auto& g = ctx.vcpu.regs.gpr;
  uint32_t leaf = static_cast<uint32_t>(g[0]), subleaf = static_cast<uint32_t>(g[1]);
  arch::CpuidRegs host = ctx.host.cpuid(leaf, subleaf);
  policy::CpuidRegs r{host.eax, host.ebx, host.ecx, host.edx};
  policy::GuestXstateView view{ctx.vcpu.xstate.xcr0, ctx.vmcs.read(vmx::VmcsField::cr4_read_shadow)};
  policy::filter_cpuid(leaf, subleaf, r, ctx.policy.apx, view);
  // CPUID writes the 32-bit results zero-extended into RAX/RBX/RCX/RDX.
  g[0] = r.eax;
  g[3] = r.ebx;
  g[1] = r.ecx;
  g[2] = r.edx;
  return ExitAction::advance();
}

}  // namespace vmm
