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
#include "vmx/vmcs_instructions.hpp"

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
  [[nodiscard]] bool try_write(VmcsField f, uint64_t value) override { return insn::vmwrite(encoding(f), value); }

  // The same accessors as VmcsAccess, without the vtable: they hide the base class's, whose
  // call to try_read()/try_write() the compiler does not always devirtualize.
  // A failed read gives 0, as VmcsAccess::read does (vmx/vmcs_instructions.hpp).
  uint64_t read(VmcsField f) { return insn::vmread_or_zero(encoding(f)); }
  // For the fields vmread_unchecked() names: no failure check (vmx/vmcs_instructions.hpp).
  uint64_t read_unchecked(VmcsField f) { return insn::vmread_unchecked(encoding(f)); }
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
