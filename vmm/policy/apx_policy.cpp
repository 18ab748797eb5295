#include "vmm/policy/apx_policy.hpp"

#include "vmm/policy/cpuid_bits.hpp"
#include "vmm/policy/xcr0_bits.hpp"

namespace vmm::policy {

const char* apx_reason_text(ApxReason reason) {
  switch (reason) {
    // Short: the loader prints it at the default level after "APX for guests: exposed|hidden"
    // (every byte on a polled UART costs boot time, bench/results.md).
    case ApxReason::exposed: return "host has APX";
    case ApxReason::off_by_config: return "apx=off";
    case ApxReason::host_lacks_apx_f: return "host lacks APX_F";
    case ApxReason::host_lacks_xcr0_apx: return "host XCR0 lacks bit 19";
  }
  return "?";
}

ApxPolicy decide_apx_policy(const HostCpuInfo& host, ApxConfig config) {
  ApxPolicy p{};
  p.xsave = host.xsave;
  if (config == ApxConfig::off)
    p.reason = ApxReason::off_by_config;
  else if (!(host.leaf7_sub1_edx & cpuid::kLeaf7s1EdxApxF))
    p.reason = ApxReason::host_lacks_apx_f;
  else if (!(host.xcr0_supported & xcr0::APX))
    p.reason = ApxReason::host_lacks_xcr0_apx;
  else
    p.reason = ApxReason::exposed;
  p.expose_apx = p.reason == ApxReason::exposed;

  uint64_t mask = host.xcr0_supported & xcr0::kKnownUserComponents;
  if (p.expose_apx)
    mask &= ~xcr0::MPX;  // never MPX state next to APX state
  else
    mask &= ~xcr0::APX;
  p.guest_supported_xcr0 = mask;
  return p;
}

}  // namespace vmm::policy
