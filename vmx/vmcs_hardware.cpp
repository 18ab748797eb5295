// VMREAD/VMWRITE (SDM Vol. 3C 31.3). Both report through RFLAGS (SDM 31.2 "Conventions"):
// VMsucceed clears CF and ZF, VMfailInvalid sets CF (no current VMCS), VMfailValid sets ZF and
// leaves an error number in the VM-instruction error field (SDM 31.4).
#include "vmx/vmcs_hardware.hpp"

namespace vmx {
namespace {

// Raw VMREAD; returns false on either failure and says which one.
inline bool vmread(uint64_t enc, uint64_t* out, bool* fail_invalid) {
  uint64_t v;
  bool cf, zf;
  asm volatile("vmread %[enc], %[val]" : [val] "=r"(v), "=@ccc"(cf), "=@ccz"(zf) : [enc] "r"(enc));
  *fail_invalid = cf;
  if (cf || zf) return false;
  *out = v;
  return true;
}

}  // namespace

void HardwareVmcs::record_failure(bool fail_invalid) {
  if (fail_invalid) {
    last_error_ = ~0u;
    return;
  }
  uint64_t err = 0;
  bool invalid = false;
  last_error_ =
      vmread(encoding(VmcsField::vm_instruction_error), &err, &invalid) ? static_cast<uint32_t>(err) : ~0u;
}

bool HardwareVmcs::try_read(VmcsField f, uint64_t* value) {
  bool fail_invalid = false;
  if (!vmread(encoding(f), value, &fail_invalid)) {
    record_failure(fail_invalid);
    return false;
  }
  last_error_ = 0;
  return true;
}

bool HardwareVmcs::try_write(VmcsField f, uint64_t value) {
  bool cf, zf;
  // AT&T operand order: vmwrite source(r/m64), field-encoding(r64).
  asm volatile("vmwrite %[val], %[enc]"
               : "=@ccc"(cf), "=@ccz"(zf)
               : [val] "rm"(value), [enc] "r"(static_cast<uint64_t>(encoding(f)))
               : "memory");
  if (cf || zf) {
    record_failure(cf);
    return false;
  }
  last_error_ = 0;
  return true;
}

}  // namespace vmx
