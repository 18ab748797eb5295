// The CPUID leaves and bits the guest CPUID policy touches (SDM Vol 2A CPUID; APX: spec.md §3).
// These are arch/ facts kept here until arch/ has a CPUID table; move them there then.
#pragma once
#include <stdint.h>

namespace vmm::policy::cpuid {

inline constexpr uint32_t kLeafFeatures = 0x1;
inline constexpr uint32_t kLeafThermalPower = 0x6;
inline constexpr uint32_t kLeafStructuredExt = 0x7;
inline constexpr uint32_t kLeafXsave = 0xD;
inline constexpr uint32_t kLeafProcessorTrace = 0x14;
inline constexpr uint32_t kLeafPerfmonExt = 0x23;  // architectural PEBS lives here
inline constexpr uint32_t kLeafApx = 0x29;
inline constexpr uint32_t kLeafHypervisorFirst = 0x40000000;  // max leaf + signature
inline constexpr uint32_t kLeafHypervisorInterface = 0x40000001;
inline constexpr uint32_t kLeafHypervisorLast = 0x4FFFFFFF;    // the range reserved for hypervisors

// CPUID.1:ECX
inline constexpr uint32_t kLeaf1EcxDtes64 = 1u << 2;  // 64-bit DS area: hidden with DS
inline constexpr uint32_t kLeaf1EcxDsCpl = 1u << 4;   // CPL-qualified BTS: hidden with DS
inline constexpr uint32_t kLeaf1EcxVmx = 1u << 5;
inline constexpr uint32_t kLeaf1EcxSmx = 1u << 6;  // GETSEC exits and #UDs: SMX is hidden too
inline constexpr uint32_t kLeaf1EcxXsave = 1u << 26;       // XSAVE/XRSTOR/XSETBV/XGETBV and XCR0
inline constexpr uint32_t kLeaf1EcxOsxsave = 1u << 27;     // mirrors CR4.OSXSAVE
inline constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;  // "running under a hypervisor"
// CPUID.6:EAX: the Hardware Feedback Interface writes a table to a physical address the
// OS gives (IA32_HW_FEEDBACK_PTR): hidden, with Thread Director, which builds on it.
inline constexpr uint32_t kLeaf6EaxHfi = 1u << 19;
inline constexpr uint32_t kLeaf6EaxThreadDirector = 1u << 23;
// CPUID.1:EDX
inline constexpr uint32_t kLeaf1EdxDs = 1u << 21;  // debug store (BTS, PEBS): hidden (msr_policy.def)
// CPUID.(7,0)
inline constexpr uint32_t kLeaf7EbxMpx = 1u << 14;
inline constexpr uint32_t kLeaf7EbxIntelPt = 1u << 25;  // hidden (msr_policy.def)
inline constexpr uint32_t kLeaf7EcxOspke = 1u << 4;        // mirrors CR4.PKE
inline constexpr uint32_t kLeaf7EcxLa57 = 1u << 16;        // 5-level paging: 57-bit linear addresses
// CPUID.(7,1):EDX
inline constexpr uint32_t kLeaf7s1EdxApxF = 1u << 21;
// CPUID.(29h,0):EBX
inline constexpr uint32_t kLeaf29EbxApxNciNddNf = 1u << 0;
// CPUID.(0Dh,n):ECX, n >= 2
inline constexpr uint32_t kLeafDEcxSupervisor = 1u << 0;   // component lives in IA32_XSS
// XSAVE state component 8: Intel PT (a supervisor component, in IA32_XSS)
inline constexpr uint32_t kXssComponentPt = 8;

}  // namespace vmm::policy::cpuid
