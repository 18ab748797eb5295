// The real VMCS accessor: VMREAD/VMWRITE on the current VMCS of this logical processor
// (SDM Vol. 3C 31.3 "VMX instruction reference"). Image-only (vmx_efi_sources): the host
// tests use FakeVmcs instead.
#pragma once
#include <stdint.h>

#include "vmx/vmcs_access.hpp"

namespace vmx {

class HardwareVmcs final : public VmcsAccess {
 public:
  bool try_read(VmcsField f, uint64_t* value) override;
  bool try_write(VmcsField f, uint64_t value) override;

  // VM-instruction error number of the last failed VMREAD/VMWRITE (SDM 31.4, Table 31-1),
  // 0 if the last access succeeded, ~0u if it failed with VMfailInvalid (no current VMCS).
  uint32_t last_error() const { return last_error_; }

 private:
  void record_failure(bool fail_invalid);
  uint32_t last_error_ = 0;
};

}  // namespace vmx
