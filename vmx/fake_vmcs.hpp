// An in-memory VMCS for host tests of every area (vmx/, vmm/ handlers, the dispatcher):
// behaves like VMREAD/VMWRITE on a CPU that supports every field of vmcs_fields.def, minus
// the ones a test marks unsupported. Header-only; freestanding-clean, but only tests use it.
#pragma once
#ifdef APEXVISOR_HARDWARE_VMCS
#error "FakeVmcs in a build whose VmcsAccess::read/write are VMREAD/VMWRITE (vmx/vmcs_access.hpp)"
#endif
#include <stddef.h>
#include <stdint.h>

#include "vmx/vmcs_access.hpp"

namespace vmx {

class FakeVmcs final : public VmcsAccess {
 public:
  // --- the seam ---------------------------------------------------------------------
  bool try_read(VmcsField f, uint64_t* value) override {
    ++reads_;
    const size_t pos = vmcs_field_position(f);
    if (pos == kVmcsFieldCount || unsupported_[pos]) return fail(12);
    *value = values_[pos];
    return ok();
  }
  bool try_write(VmcsField f, uint64_t value) override {
    ++writes_;
    const size_t pos = vmcs_field_position(f);
    if (pos == kVmcsFieldCount || unsupported_[pos]) return fail(12);
    if (vmcs_field_read_only(f) && !exit_info_writable_) return fail(13);
    if (write_fails_[pos]) return fail(12);
    values_[pos] = value & vmcs_width_mask(vmcs_field_width(f));
    written_[pos] = true;
    return ok();
  }

  // --- test controls (never fail, never count) ---------------------------------------
  // Sets what the "processor" stored, e.g. the exit information of a simulated VM exit.
  void set(VmcsField f, uint64_t value) {
    const size_t pos = vmcs_field_position(f);
    if (pos != kVmcsFieldCount) values_[pos] = value & vmcs_width_mask(vmcs_field_width(f));
  }
  uint64_t get(VmcsField f) const {
    const size_t pos = vmcs_field_position(f);
    return pos != kVmcsFieldCount ? values_[pos] : 0;
  }
  // Forgets which fields were written (a test that runs a second exit on the same VMCS).
  void forget_writes() {
    for (bool& w : written_) w = false;
  }
  // True once software VMWRITE'd the field successfully.
  bool written(VmcsField f) const {
    const size_t pos = vmcs_field_position(f);
    return pos != kVmcsFieldCount && written_[pos];
  }
  // Makes VMREAD/VMWRITE of the field fail with error 12, as on a CPU without it.
  void mark_unsupported(VmcsField f, bool unsupported = true) {
    const size_t pos = vmcs_field_position(f);
    if (pos != kVmcsFieldCount) unsupported_[pos] = unsupported;
  }
  // Makes VMWRITE of the field fail (error 12) while VMREAD still works: a write failure in
  // the middle of a sequence of accesses.
  void fail_writes(VmcsField f, bool on = true) {
    const size_t pos = vmcs_field_position(f);
    if (pos != kVmcsFieldCount) write_fails_[pos] = on;
  }
  // IA32_VMX_MISC[29]: VMWRITE may write the VM-exit information fields.
  void set_exit_info_writable(bool on) { exit_info_writable_ = on; }

  // VM-instruction error of the last failed access (0 after a successful one).
  uint32_t last_error() const { return last_error_; }
  unsigned reads() const { return reads_; }
  unsigned writes() const { return writes_; }

 private:
  bool ok() {
    last_error_ = 0;
    return true;
  }
  bool fail(uint32_t error) {
    last_error_ = error;
    return false;
  }

  uint64_t values_[kVmcsFieldCount] = {};
  bool written_[kVmcsFieldCount] = {};
  bool unsupported_[kVmcsFieldCount] = {};
  bool write_fails_[kVmcsFieldCount] = {};
  bool exit_info_writable_ = false;
  uint32_t last_error_ = 0;
  unsigned reads_ = 0;
  unsigned writes_ = 0;
};

}  // namespace vmx
