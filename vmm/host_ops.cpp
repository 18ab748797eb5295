#include "vmm/host_ops.hpp"

namespace vmm {

void HostOps::cpuid_into(vmx::GprFile& regs) {
  const arch::CpuidRegs r = cpuid(static_cast<uint32_t>(regs.gpr[0]), static_cast<uint32_t>(regs.gpr[1]));
  regs.gpr[0] = r.eax;
  regs.gpr[3] = r.ebx;
  regs.gpr[1] = r.ecx;
  regs.gpr[2] = r.edx;
}

}  // namespace vmm
