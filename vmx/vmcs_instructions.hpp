// VMREAD and VMWRITE as inline assembly, the one copy both accessors use in the image:
// HardwareVmcs (vmx/vmcs_hardware.hpp) and, where APEXVISOR_HARDWARE_VMCS is defined (the
// image's build), VmcsAccess::read/write themselves (vmx/vmcs_access.hpp), so that handlers
// pay no virtual call per field. Image only: in the host tests these instructions #UD.
#pragma once
#include <stdint.h>

namespace vmx::insn {

// Both report through RFLAGS (SDM Vol 3C 31.2 "Conventions"): VMsucceed clears CF and ZF,
// VMfailInvalid sets CF, VMfailValid sets ZF: `ja` is success, `jbe` either failure.
// A failed read gives 0, zeroed in the asm itself, so that the success path is
// `mov $field, %eax; vmread; ja` (no flag to materialize, no cmov).
// (Not asm goto with an output: GCC 12 reuses the unwritten output on the failure path.)
// volatile: the value depends on earlier VMWRITEs, which the compiler cannot see.
inline uint64_t vmread_or_zero(uint64_t encoding) {
  uint64_t v;
  asm volatile(
      "vmread %[enc], %[val]\n\t"
      "ja 1f\n\t"
      "xor %k[val], %k[val]\n"
      "1:"
      : [val] "=&r"(v)
      : [enc] "r"(encoding)
      : "cc");
  return v;
}

// The same without the failure check, for the fields every exit reads on its hot path (exit
// reason, guest RIP, RFLAGS, interruptibility state, instruction length): they exist on every
// VMX processor, and during an exit the VMCS is current, so VMREAD cannot fail there (SDM
// Vol 3C 31.3 VMREAD: it fails only without a current VMCS or for an unsupported field).
inline uint64_t vmread_unchecked(uint64_t encoding) {
  uint64_t v;
  asm volatile("vmread %[enc], %[val]" : [val] "=r"(v) : [enc] "r"(encoding) : "cc");
  return v;
}

// AT&T operand order: vmwrite source(r/m64), field-encoding(r64). asm goto: the failure is
// a branch straight out of the instruction, no flag to materialize.
[[nodiscard]] inline bool vmwrite(uint64_t encoding, uint64_t value) {
  asm goto("vmwrite %[val], %[enc]\n\tjbe %l[failed]"
           :
           : [val] "rm"(value), [enc] "r"(encoding)
           : "cc", "memory"
           : failed);
  return true;
failed:
  return false;
}

}  // namespace vmx::insn
