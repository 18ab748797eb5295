// The EPT capabilities the identity map uses, from IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D A.10).
// A plain struct so tests (and CPUs with fewer features) can say exactly what is offered.
#pragma once
#include "vmx/capabilities.hpp"

namespace vmm::ept {

struct EptFeatures {
  bool pages_2m = false;        // EPT_VPID_CAP[16]: PDEs may map 2 MiB pages
  bool pages_1g = false;        // EPT_VPID_CAP[17]: PDPTEs may map 1 GiB pages
  bool execute_only = false;    // EPT_VPID_CAP[0]: R=W=0, X=1 is allowed
  bool walk_5level = false;     // EPT_VPID_CAP[7]: EPTP may name a 5-level walk (57-bit GPAs)
};

inline EptFeatures ept_features(const vmx::VmxCapabilities& caps) {
  EptFeatures f;
  f.pages_2m = caps.ept_2mb_pages();
  f.pages_1g = caps.ept_1gb_pages();
  f.execute_only = caps.ept_execute_only();
  f.walk_5level = caps.ept_5level_walk();
  return f;
}

}  // namespace vmm::ept
