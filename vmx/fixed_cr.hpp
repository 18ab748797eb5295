// CR0/CR4 bits fixed in VMX operation (SDM Vol. 3D A.7 "VMX-Fixed Bits in CR0", A.8 "VMX-Fixed
// Bits in CR4"): a bit set in FIXED0 must be 1, a bit clear in FIXED1 must be 0. VM entry
// checks the guest's CR0/CR4 against them (SDM 27.3.1.1) and fails with "invalid guest state"
// otherwise — HyperPlatform #40 (design.md pitfalls). With the "unrestricted guest" control,
// CR0.PE and CR0.PG are exempt (A.7, 27.3.1.1), so real mode and unpaged protected mode run.
#pragma once
#include <stdint.h>

#include "vmx/capabilities.hpp"

namespace vmx {

inline constexpr uint64_t kCr0Pe = 1ull << 0;
inline constexpr uint64_t kCr0Pg = 1ull << 31;

// The FIXED0 bits the value must have; without PE/PG for an unrestricted guest.
constexpr uint64_t cr0_must_be_one(const VmxCapabilities& caps, bool unrestricted_guest) {
  return caps.cr0_fixed0 & (unrestricted_guest ? ~(kCr0Pe | kCr0Pg) : ~0ull);
}

// Forces the fixed bits: sets the must-be-1 bits, clears the must-be-0 bits. For host CR0/CR4
// pass unrestricted_guest = false (the exemption is for guest state only).
constexpr uint64_t apply_cr0_fixed(uint64_t cr0, const VmxCapabilities& caps, bool unrestricted_guest) {
  return (cr0 | cr0_must_be_one(caps, unrestricted_guest)) & caps.cr0_fixed1;
}
constexpr uint64_t apply_cr4_fixed(uint64_t cr4, const VmxCapabilities& caps) {
  return (cr4 | caps.cr4_fixed0) & caps.cr4_fixed1;
}

// Whether VM entry's fixed-bit checks accept the value. An unrestricted guest must still not
// have PG=1 with PE=0 (SDM 27.3.1.1).
constexpr bool cr0_fixed_ok(uint64_t cr0, const VmxCapabilities& caps, bool unrestricted_guest) {
  if (unrestricted_guest && (cr0 & kCr0Pg) && !(cr0 & kCr0Pe)) return false;
  return apply_cr0_fixed(cr0, caps, unrestricted_guest) == cr0;
}
constexpr bool cr4_fixed_ok(uint64_t cr4, const VmxCapabilities& caps) {
  return apply_cr4_fixed(cr4, caps) == cr4;
}

}  // namespace vmx
