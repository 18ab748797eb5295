// Host CPUs for the vmm/policy tests, described by the CPUID values the policy reads.
// Layouts are the standard-format offsets/sizes Intel CPUs report (SDM Vol 1 13.4; APX at
// 960/128: spec.md §3).
#pragma once
#include <stdint.h>

#include "vmm/policy/apx_policy.hpp"
#include "vmm/policy/cpuid_bits.hpp"
#include "vmm/policy/cpuid_filter.hpp"
#include "vmm/policy/xcr0_bits.hpp"

namespace policy_test {

using namespace vmm::policy;

inline XsaveLayout intel_layout(uint64_t mask) {
  XsaveLayout l{};
  auto set = [&](unsigned n, uint32_t size, uint32_t offset) {
    if ((mask >> n) & 1) {
      l.size[n] = size;
      l.offset[n] = offset;
    }
  };
  set(2, 256, 576);      // AVX (YMM_Hi128)
  set(3, 64, 960);       // BNDREGS
  set(4, 64, 1024);      // BNDCSR
  set(5, 64, 1088);      // opmask
  set(6, 512, 1152);     // ZMM_Hi256
  set(7, 1024, 1664);    // Hi16_ZMM
  set(9, 8, 2688);       // PKRU
  set(17, 64, 2752);     // XTILECFG
  set(18, 8192, 2816);   // XTILEDATA
  set(19, 128, 960);     // APX, in MPX's old place
  return l;
}

inline HostCpuInfo host(bool apx_f, uint64_t xcr0_supported) {
  HostCpuInfo h{};
  h.leaf7_sub1_edx = apx_f ? cpuid::kLeaf7s1EdxApxF : 0;
  h.xcr0_supported = xcr0_supported;
  h.xsave = intel_layout(xcr0_supported);
  return h;
}

// An APX server part: AVX-512, PKRU, AMX, APX; no MPX.
inline constexpr uint64_t kApxServerXcr0 = xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::AVX512 | xcr0::PKRU |
                                           xcr0::AMX | xcr0::APX;
// A small APX part (no AVX-512/AMX), where APX decides the XSAVE area size.
inline constexpr uint64_t kApxSmallXcr0 = xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::APX;
// Skylake client: MPX, no APX.
inline constexpr uint64_t kSkylakeXcr0 = xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::MPX;
// Not a real part: APX and MPX both enumerated, to show MPX is hidden when APX is exposed.
inline constexpr uint64_t kApxAndMpxXcr0 = kApxSmallXcr0 | xcr0::MPX;

// What the hardware's CPUID returns on such a host, for the leaves the filter looks at.
inline CpuidRegs host_cpuid(const HostCpuInfo& h, uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r{0x11111111, 0x22222222, 0x33333333, 0x44444444};  // "don't care" bits
  const bool apx = (h.leaf7_sub1_edx & cpuid::kLeaf7s1EdxApxF) != 0;
  switch (leaf) {
    case 1:
      r.ecx = cpuid::kLeaf1EcxVmx | cpuid::kLeaf1EcxSmx | cpuid::kLeaf1EcxOsxsave | 0x1;  // host CR4.OSXSAVE=1
      break;
    case 7:
      if (subleaf == 0) r = CpuidRegs{1, (h.xcr0_supported & xcr0::MPX) ? cpuid::kLeaf7EbxMpx : 0u, cpuid::kLeaf7EcxOspke, 0};
      else if (subleaf == 1) r = CpuidRegs{0, 0, 0, h.leaf7_sub1_edx};
      else r = CpuidRegs{0, 0, 0, 0};
      break;
    case 0xD:
      if (subleaf == 0) {
        r.eax = static_cast<uint32_t>(h.xcr0_supported);
        r.edx = static_cast<uint32_t>(h.xcr0_supported >> 32);
        r.ecx = xsave_standard_size(h.xcr0_supported, h.xsave);
        r.ebx = 0x240;
      } else if (subleaf >= 2 && subleaf < 64) {
        r = CpuidRegs{h.xsave.size[subleaf], h.xsave.offset[subleaf], 0, 0};
      }
      break;
    case 0x29:
      r = apx && subleaf == 0 ? CpuidRegs{0, cpuid::kLeaf29EbxApxNciNddNf | 0x80000000u, 0x5, 0x6} : CpuidRegs{0, 0, 0, 0};
      break;
    default:
      break;
  }
  return r;
}

inline CpuidRegs guest_cpuid(const HostCpuInfo& h, const ApxPolicy& p, const GuestXstateView& g, uint32_t leaf,
                             uint32_t subleaf) {
  CpuidRegs r = host_cpuid(h, leaf, subleaf);
  filter_cpuid(leaf, subleaf, r, p, g);
  return r;
}

}  // namespace policy_test
