// Whether guests get Intel APX, and the guest-supported XCR0 that follows from it
// (design.md "APX is exposed only when it is safe"). Pure logic: the caller reads the host's
// CPUID once per CPU and passes the values in, so this runs the same in the image and in tests.
#pragma once
#include <stdint.h>

#include "vmm/policy/xsave_layout.hpp"

namespace vmm::policy {

// The configuration switch: boot/config.hpp's `apx=auto|off` (boot::ApxMode has the same two
// values; boot may use vmm/, so it can alias this one). auto exposes APX exactly when the host can.
enum class ApxConfig : uint8_t { auto_detect, off };

// The host facts the decision needs, read with CPUID on the host.
struct HostCpuInfo {
  uint32_t leaf7_sub1_edx;    // CPUID.(7,1):EDX (bit 21 = APX_F)
  uint64_t xcr0_supported;    // CPUID.(0Dh,0) EDX:EAX: what the host can set in XCR0
  XsaveLayout xsave;          // CPUID.(0Dh,n).EAX/EBX for n = 2..63
};

enum class ApxReason : uint8_t {
  exposed,             // host has APX and config allows it
  off_by_config,       // apx=off
  host_lacks_apx_f,    // CPUID.(7,1):EDX[21] clear
  host_lacks_xcr0_apx  // CPUID.(0Dh,0).EAX[19] clear: XCR0 cannot enable the EGPRs
};
const char* apx_reason_text(ApxReason reason);

struct ApxPolicy {
  bool expose_apx;
  ApxReason reason;
  // What the guest sees in CPUID.(0Dh,0) EDX:EAX and may set with XSETBV: the host's components
  // that apexvisor knows (xcr0::kKnownUserComponents), without APX when APX is hidden and
  // without MPX when it is exposed. Never APX together with BNDREGS or BNDCSR: APX reuses
  // MPX's area at offset 960 of the standard format (KVM v2 13/16, selftest
  // ASSERT_XFEATURE_CONFLICT; spec.md §3).
  uint64_t guest_supported_xcr0;
  XsaveLayout xsave;  // the host's layout, for the sizes in CPUID.(0Dh,0)
};

ApxPolicy decide_apx_policy(const HostCpuInfo& host, ApxConfig config);

}  // namespace vmm::policy
