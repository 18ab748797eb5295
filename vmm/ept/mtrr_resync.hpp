// The EPT follows the guest's virtual MTRRs (image side of vmm/handlers/mtrr_write.hpp). When a
// guest write leaves the virtual MTRRs enabled, the shared EPT is re-typed from them
// (retype_from_virtual: EptIdentityMap::retype under live_ept_lock), then this CPU invalidates
// its EPT-derived translations (INVEPT). Other CPUs are not interrupted: the SDM's procedure
// for changing MTRRs on a multiprocessor (Vol 3A 12.11.8) has every CPU rewrite its own MTRRs,
// so each of them exits here and invalidates too — by then the tables already hold the new
// types, and the re-type finds nothing left to change. The hardware MTRRs are never read or
// written after boot. A re-type never fails for want of table pages (the large page goes UC,
// EptIdentityMap::retype); that, and undefined overlaps, are warned about once per change.
// The lines are caused by the guest, so they are rate-limited per cause (APEX_LOG_GUEST).
// Image only (INVEPT, log).
#pragma once
#include "vmm/ept/ept_builder.hpp"
#include "vmm/handlers/mtrr_write.hpp"
#include "vmx/capabilities.hpp"

namespace vmm::ept {

class MtrrResync final : public MtrrWriteObserver {
 public:
  void init(EptIdentityMap* ept, const vmx::VmxCapabilities& caps);
  void mtrrs_changed(ExitContext& ctx, VirtualMtrrs& mtrrs) override;

 private:
  EptIdentityMap* ept_ = nullptr;
  bool invept_single_ = false;
};

}  // namespace vmm::ept
