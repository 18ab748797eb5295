// VMX instructions (SDM Vol 3C, 31). Each returns the VMX instruction status: ok, or
// VMfailInvalid (CF=1), or VMfailValid (ZF=1; the VM-instruction error field says why).
#pragma once
#include <stdint.h>

namespace vmx {

enum class VmxStatus : uint8_t { ok, fail_invalid, fail_valid };

#define APEX_VMX_STATUS_FROM_FLAGS(cf, zf) \
  ((cf) ? VmxStatus::fail_invalid : (zf) ? VmxStatus::fail_valid : VmxStatus::ok)

inline VmxStatus vmxon(uint64_t region_pa) {
  uint8_t cf, zf;
  asm volatile("vmxon %2" : "=@ccc"(cf), "=@ccz"(zf) : "m"(region_pa) : "memory", "cc");
  return APEX_VMX_STATUS_FROM_FLAGS(cf, zf);
}

inline VmxStatus vmxoff() {
  uint8_t cf, zf;
  asm volatile("vmxoff" : "=@ccc"(cf), "=@ccz"(zf)::"memory", "cc");
  return APEX_VMX_STATUS_FROM_FLAGS(cf, zf);
}

inline VmxStatus vmclear(uint64_t vmcs_pa) {
  uint8_t cf, zf;
  asm volatile("vmclear %2" : "=@ccc"(cf), "=@ccz"(zf) : "m"(vmcs_pa) : "memory", "cc");
  return APEX_VMX_STATUS_FROM_FLAGS(cf, zf);
}

inline VmxStatus vmptrld(uint64_t vmcs_pa) {
  uint8_t cf, zf;
  asm volatile("vmptrld %2" : "=@ccc"(cf), "=@ccz"(zf) : "m"(vmcs_pa) : "memory", "cc");
  return APEX_VMX_STATUS_FROM_FLAGS(cf, zf);
}

#undef APEX_VMX_STATUS_FROM_FLAGS

inline const char* vmx_status_name(VmxStatus s) {
  switch (s) {
    case VmxStatus::ok: return "ok";
    case VmxStatus::fail_invalid: return "VMfailInvalid";
    case VmxStatus::fail_valid: return "VMfailValid";
  }
  return "?";
}

}  // namespace vmx
