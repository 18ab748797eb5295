#include "vmm/host_ops.hpp"

#include "arch/msr.hpp"

namespace vmm {

void HostOps::cpuid_into(vmx::GprFile& regs) {
  const arch::CpuidRegs r = cpuid(static_cast<uint32_t>(regs.gpr[0]), static_cast<uint32_t>(regs.gpr[1]));
  regs.gpr[0] = r.eax;
  regs.gpr[3] = r.ebx;
  regs.gpr[1] = r.ecx;
  regs.gpr[2] = r.edx;
}

uint64_t HostOps::feature_control() {
  uint64_t value = 0;
  return rdmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_FEATURE_CONTROL), &value) ? value : 0;
}

}  // namespace vmm
