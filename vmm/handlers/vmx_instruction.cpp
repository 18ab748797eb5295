// The VMX instructions (exit reasons 19-27 VMCLEAR .. VMXON, 50 INVEPT, 53 INVVPID, 59
// VMFUNC) and GETSEC (11). In VMX non-root operation they exit unconditionally (SDM Vol 3C
// 26.1.2), whatever the guest's CR4.VMXE says, since the real CR4.VMXE is 1. apexvisor hides
// VMX from the guest (CPUID.1:ECX[5] clear, IA32_FEATURE_CONTROL locked with VMX off,
// CR4.VMXE refused), so the guest gets what such a CPU gives: #UD (Vol 3C 31.3: VMX
// instructions #UD with CR4.VMXE=0). No nested VMX. GETSEC gets the #UD of a CPU without
// SMX (Vol 2D GETSEC: #UD with CR4.SMXE=0); no measured launch from inside a guest.
// SEAMCALL and TDCALL (76, 77) exit unconditionally in VMX non-root operation on a CPU with
// TDX; the guest gets the #UD of a CPU without it (KVM answers the same way).
#include "vmm/handlers/handlers.hpp"

namespace vmm {

ExitAction handle_vmx_instruction(ExitContext&) { return ExitAction::ud(); }

ExitAction handle_getsec(ExitContext&) { return ExitAction::ud(); }

ExitAction handle_tdx_instruction(ExitContext&) { return ExitAction::ud(); }

}  // namespace vmm
