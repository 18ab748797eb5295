// The EPT follows the guest's MTRRs (image side of vmm/handlers/mtrr_write.hpp). When a guest
// write leaves the MTRRs enabled, this CPU's MTRRs are read again and the shared EPT is
// re-typed from them (EptIdentityMap::retype, under live_ept_lock), then this CPU invalidates
// its EPT-derived translations (INVEPT). Other CPUs are not interrupted: the SDM's procedure
// for changing MTRRs on a multiprocessor (Vol 3A 12.11.8) has every CPU rewrite its own MTRRs,
// so each of them exits here and invalidates too — by then the tables already hold the new
// types, and the re-type finds nothing left to change. Image only (INVEPT, log).
#pragma once
#include "vmm/ept/ept_builder.hpp"
#include "vmm/handlers/mtrr_write.hpp"
#include "vmx/capabilities.hpp"

namespace vmm::ept {

class MtrrResync final : public MtrrWriteObserver {
 public:
  // `boot`: the snapshot the map was built from (whether the CPU has MTRRs, MAXPHYADDR).
  void init(EptIdentityMap* ept, const MtrrSnapshot& boot, const vmx::VmxCapabilities& caps);
  void mtrrs_changed(ExitContext& ctx) override;

 private:
  EptIdentityMap* ept_ = nullptr;
  bool mtrr_supported_ = false;
  uint8_t max_phys_bits_ = kDefaultMaxPhysBits;
  bool invept_single_ = false;
};

}  // namespace vmm::ept
