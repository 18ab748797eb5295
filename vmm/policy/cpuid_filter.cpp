#include "vmm/policy/cpuid_filter.hpp"

#include "arch/cr_bits.hpp"
#include "arch/little_endian.hpp"
#include "vmm/policy/cpuid_bits.hpp"
#include "vmm/policy/xcr0_bits.hpp"

namespace vmm::policy {
namespace {

void set_bit(uint32_t& reg, uint32_t bit, bool on) { reg = on ? (reg | bit) : (reg & ~bit); }

void zero(CpuidRegs& r) { r = CpuidRegs{0, 0, 0, 0}; }

uint32_t signature_word(unsigned i) {
  return static_cast<uint32_t>(arch::load_le(reinterpret_cast<const uint8_t*>(kHypervisorSignature) + 4 * i, 4));
}

void filter_hypervisor_leaf(uint32_t leaf, CpuidRegs& r) {
  zero(r);
  if (leaf == cpuid::kLeafHypervisorFirst) {
    r.eax = kHypervisorMaxLeaf;
    r.ebx = signature_word(0);
    r.ecx = signature_word(1);
    r.edx = signature_word(2);
  } else if (leaf == cpuid::kLeafHypervisorInterface) {
    r.eax = kHypervisorInterfaceVersion;
  }
}

void filter_xsave_leaf(uint32_t subleaf, CpuidRegs& r, const ApxPolicy& p, const GuestXstateView& g) {
  const uint64_t offered = p.guest_supported_xcr0;
  if (subleaf == 0) {
    r.eax = static_cast<uint32_t>(offered);
    r.edx = static_cast<uint32_t>(offered >> 32);
    r.ecx = xsave_standard_size(offered, p.xsave);
    r.ebx = xsave_standard_size(g.xcr0 & offered, p.xsave);
    return;
  }
  if (subleaf == 1) {  // ECX:EDX = the IA32_XSS bits the CPU supports: PT's is hidden
    set_bit(r.ecx, 1u << cpuid::kXssComponentPt, false);
    return;
  }
  if (subleaf == cpuid::kXssComponentPt) {
    zero(r);
    return;
  }
  if (subleaf < 2 || subleaf > 63) return;
  if (r.ecx & cpuid::kLeafDEcxSupervisor) return;  // IA32_XSS component: not this policy's
  if (!((offered >> subleaf) & 1)) zero(r);
}

}  // namespace

void filter_cpuid(uint32_t leaf, uint32_t subleaf, CpuidRegs& r, const ApxPolicy& p, const GuestXstateView& g) {
  const bool mpx_offered = (p.guest_supported_xcr0 & xcr0::MPX) == xcr0::MPX;
  switch (leaf) {
    case cpuid::kLeafFeatures:
      set_bit(r.ecx, cpuid::kLeaf1EcxHypervisor, true);
      set_bit(r.ecx, cpuid::kLeaf1EcxVmx, false);
      set_bit(r.ecx, cpuid::kLeaf1EcxSmx, false);
      set_bit(r.ecx, cpuid::kLeaf1EcxOsxsave, (g.cr4 & arch::cr4::OSXSAVE) != 0);
      set_bit(r.ecx, cpuid::kLeaf1EcxDtes64, false);
      set_bit(r.ecx, cpuid::kLeaf1EcxDsCpl, false);
      set_bit(r.edx, cpuid::kLeaf1EdxDs, false);
      return;
    case cpuid::kLeafStructuredExt:
      if (subleaf == 0) {
        if (p.expose_apx && r.eax < 1) r.eax = 1;
        if (!mpx_offered) set_bit(r.ebx, cpuid::kLeaf7EbxMpx, false);
        set_bit(r.ebx, cpuid::kLeaf7EbxIntelPt, false);
        set_bit(r.ecx, cpuid::kLeaf7EcxOspke, (g.cr4 & arch::cr4::PKE) != 0);
      } else if (subleaf == 1) {
        set_bit(r.edx, cpuid::kLeaf7s1EdxApxF, p.expose_apx);
      }
      return;
    case cpuid::kLeafXsave:
      filter_xsave_leaf(subleaf, r, p, g);
      return;
    case cpuid::kLeafThermalPower:
      set_bit(r.eax, cpuid::kLeaf6EaxHfi, false);
      set_bit(r.eax, cpuid::kLeaf6EaxThreadDirector, false);
      return;
    case cpuid::kLeafProcessorTrace:
    case cpuid::kLeafPerfmonExt:
      zero(r);
      return;
    case cpuid::kLeafApx:
      if (!p.expose_apx || subleaf != 0) {
        zero(r);
      } else {
        r.eax = 0;
        r.ebx &= cpuid::kLeaf29EbxApxNciNddNf;
        r.ecx = 0;
        r.edx = 0;
      }
      return;
    default:
      if (leaf >= cpuid::kLeafHypervisorFirst && leaf <= cpuid::kLeafHypervisorLast) filter_hypervisor_leaf(leaf, r);
      return;
  }
}

}  // namespace vmm::policy
