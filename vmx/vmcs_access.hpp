// The VMCS seam (design.md "Hardware access goes through small seams"): handlers and the
// dispatcher read and write the current VMCS through VmcsAccess. The image plugs in
// HardwareVmcs (VMREAD/VMWRITE, vmx/vmcs_hardware.hpp); tests plug in FakeVmcs
// (vmx/fake_vmcs.hpp).
#pragma once
#include <stdint.h>

#include "vmx/vmcs_field.hpp"
#ifdef APEXVISOR_HARDWARE_VMCS
#include "vmx/vmcs_instructions.hpp"
#endif

namespace vmx {

class VmcsAccess {
 public:
  // VMREAD of the current VMCS. Returns false when the instruction fails (VMfailInvalid: no
  // current VMCS; VMfailValid: e.g. error 12 "VMREAD/VMWRITE from/to unsupported VMCS
  // component", SDM 31.4 Table 31-1); *value is then left untouched. A 16- or 32-bit field
  // reads zero-extended (SDM 25.11.2).
  [[nodiscard]] virtual bool try_read(VmcsField f, uint64_t* value) = 0;
  // VMWRITE. Bits above the field's width are ignored by the processor (SDM 25.11.2).
  // Fails for an unsupported field and for a VM-exit information field unless
  // IA32_VMX_MISC[29] (SDM A.6) — error 13 "VMWRITE to read-only VMCS component".
  [[nodiscard]] virtual bool try_write(VmcsField f, uint64_t value) = 0;

  // Reads a field, 0 if the read failed (use try_read where failure matters).
#ifdef APEXVISOR_HARDWARE_VMCS
  // The image has one accessor, HardwareVmcs, and every handler reaches the VMCS through
  // this interface: the reads and writes are the instructions themselves, inline, instead
  // of a virtual call per field (issue P12). try_read/try_write stay virtual.
  uint64_t read(VmcsField f) { return insn::vmread_or_zero(encoding(f)); }
  // An exit's own fields, which cannot fail to read during it (vmx/vmcs_instructions.hpp).
  uint64_t read_unchecked(VmcsField f) { return insn::vmread_unchecked(encoding(f)); }
  [[nodiscard]] bool write(VmcsField f, uint64_t value) { return insn::vmwrite(encoding(f), value); }
#else
  uint64_t read(VmcsField f) {
    uint64_t v = 0;
    return try_read(f, &v) ? v : 0;
  }
  uint64_t read_unchecked(VmcsField f) { return read(f); }
  [[nodiscard]] bool write(VmcsField f, uint64_t value) { return try_write(f, value); }
#endif

  // Typed accessors: the value type follows the field's width (vmcs_value_t), so
  //   uint32_t r = vmcs.read<VmcsField::exit_reason>();
  template <VmcsField F>
  vmcs_value_t<F> read() {
    return static_cast<vmcs_value_t<F>>(read(F));
  }
  template <VmcsField F>
  [[nodiscard]] bool write(vmcs_value_t<F> value) {
    return write(F, value);
  }

 protected:
  // Not deletable through the interface: objects live in per-CPU storage or on the stack.
  // (No user-declared constructor either, so the abstract class's vtable is never emitted
  // and the image needs no __cxa_pure_virtual.)
  ~VmcsAccess() = default;
};

}  // namespace vmx
