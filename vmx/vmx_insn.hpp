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

// INVEPT and INVVPID (31.3) take the same operands: a type in a register and a 128-bit
// descriptor in memory.
struct alignas(16) InvalidationDescriptor {
  uint64_t low, high;
};
#define APEX_VMX_INVALIDATE(mnemonic, type, desc)                                                      \
  do {                                                                                                 \
    uint8_t cf, zf;                                                                                    \
    asm volatile(mnemonic " %2, %3" : "=@ccc"(cf), "=@ccz"(zf) : "m"(desc), "r"(static_cast<uint64_t>(type)) \
                 : "memory", "cc");                                                                    \
    return APEX_VMX_STATUS_FROM_FLAGS(cf, zf);                                                         \
  } while (0)

// INVEPT (29.4.3.1): type 1 invalidates the mappings derived from one EPTP (every VPID), type
// 2 those of every EPTP. Descriptor: the EPTP, then a reserved zero quadword.
enum class InveptType : uint64_t { single_context = 1, all_context = 2 };
inline VmxStatus invept(InveptType type, uint64_t eptp) {
  const InvalidationDescriptor desc{eptp, 0};
  APEX_VMX_INVALIDATE("invept", type, desc);
}

// INVVPID (29.4.3.3): type 1 single-context invalidates every linear mapping tagged with one
// VPID, type 2 all-context those of every VPID but 0. Descriptor: the VPID in bits 15:0, then
// the linear address (used by type 0 only).
enum class InvvpidType : uint64_t { single_context = 1, all_context = 2 };
inline VmxStatus invvpid(InvvpidType type, uint16_t vpid) {
  const InvalidationDescriptor desc{vpid, 0};
  APEX_VMX_INVALIDATE("invvpid", type, desc);
}

#undef APEX_VMX_INVALIDATE
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
