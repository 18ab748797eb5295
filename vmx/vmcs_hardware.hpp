// The real VMCS accessor: VMREAD/VMWRITE on the current VMCS of this logical processor
// (SDM Vol. 3C 31.3 "VMX instruction reference"). Image-only (the tests use FakeVmcs).
//
// Both instructions are inline here, the class is final and holds no state, so code that
// holds a HardwareVmcs (the exit path, vmm/launch/exit_entry.cpp) gets `mov $field, %eax;
// vmread; jbe` per access with no call, and every CPU can share one object. Handlers, which
// see the VmcsAccess interface, reach the same code through the vtable.
//
// After a failed access, the VM-instruction error field says why (SDM 31.4, Table 31-1):
// VMfailValid leaves the error number there until the next failure, so a chain of
// `ok &= write(...)` can read it once at the end. After VMfailInvalid (no current VMCS) that
// read fails as well.
#pragma once
#include <stdint.h>

#include "vmx/vmcs_access.hpp"

namespace vmx {

class HardwareVmcs final : public VmcsAccess {
 public:
  // Both report through RFLAGS (SDM 31.2 "Conventions"): VMsucceed clears CF and ZF,
  // VMfailInvalid sets CF, VMfailValid sets ZF: `jbe` takes either failure.
  [[nodiscard]] bool try_read(VmcsField f, uint64_t* value) override {
    uint64_t v;
    bool ok;
    // volatile: the value depends on earlier VMWRITEs, which the compiler cannot see.
    asm volatile("vmread %[enc], %[val]" : [val] "=r"(v), "=@cca"(ok) : [enc] "r"(uint64_t{encoding(f)}));
    if (__builtin_expect(!ok, 0)) return false;
    *value = v;
    return true;
  }
  [[nodiscard]] bool try_write(VmcsField f, uint64_t value) override {
    // AT&T operand order: vmwrite source(r/m64), field-encoding(r64). asm goto: the failure
    // is a branch straight out of the instruction, no flag to materialize.
    asm goto("vmwrite %[val], %[enc]\n\tjbe %l[failed]"
             :
             : [val] "rm"(value), [enc] "r"(uint64_t{encoding(f)})
             : "cc", "memory"
             : failed);
    return true;
  failed:
    return false;
  }

  // The same accessors as VmcsAccess, without the vtable: they hide the base class's, whose
  // call to try_read()/try_write() the compiler does not always devirtualize.
  // A failed read gives 0, as VmcsAccess::read does: zeroed in the asm itself, so that the
  // success path is `mov $field, %eax; vmread; ja` (no flag to materialize, no cmov).
  // (Not asm goto with an output: GCC 12 reuses the unwritten output on the failure path.)
  uint64_t read(VmcsField f) {
    uint64_t v;
    asm volatile(
        "vmread %[enc], %[val]\n\t"
        "ja 1f\n\t"
        "xor %k[val], %k[val]\n"
        "1:"
        : [val] "=&r"(v)
        : [enc] "r"(uint64_t{encoding(f)})
        : "cc");
    return v;
  }
  [[nodiscard]] bool write(VmcsField f, uint64_t value) { return HardwareVmcs::try_write(f, value); }
  template <VmcsField F>
  vmcs_value_t<F> read() {
    return static_cast<vmcs_value_t<F>>(read(F));
  }
  template <VmcsField F>
  [[nodiscard]] bool write(vmcs_value_t<F> value) {
    return HardwareVmcs::try_write(F, value);
  }

  // The VM-instruction error of the last failed VMREAD/VMWRITE/VMLAUNCH/... that failed with
  // VMfailValid (SDM 31.4), ~0u when it cannot be read (no current VMCS).
  uint32_t instruction_error() {
    uint64_t err;
    return HardwareVmcs::try_read(VmcsField::vm_instruction_error, &err) ? static_cast<uint32_t>(err) : ~0u;
  }
};

}  // namespace vmx
