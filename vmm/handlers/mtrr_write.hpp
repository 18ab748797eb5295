// Guest writes to the MTRRs. With EPT the memory type of a guest access comes from the EPT leaf
// (combined with the guest's PAT), not from the MTRRs (SDM Vol 3C 29.3.7.2), and apexvisor
// builds the EPT types from the MTRRs at boot. So every MTRR write exits (msr_policy.def): it is
// performed on the real MSR, and when it leaves the MTRRs enabled the observer re-types the EPT
// from this CPU's new MTRRs. An OS changes MTRRs with them disabled and enables them last
// (SDM Vol 3A 12.11.7.2), so one change costs one re-type: on the write that sets
// IA32_MTRR_DEF_TYPE.E.
#pragma once
#include "vmm/exit_context.hpp"

namespace vmm {

class MtrrWriteObserver {
 public:
  // On the writing CPU, in VMX root, after a write that left IA32_MTRR_DEF_TYPE.E set.
  virtual void mtrrs_changed(ExitContext& ctx) = 0;

 protected:
  ~MtrrWriteObserver() = default;
};

// nullptr (the default, and in unit tests that do not set one): writes only go to the MSRs.
void set_mtrr_write_observer(MtrrWriteObserver* observer);

// WRMSR of an MTRR (vmm::ept::is_mtrr_msr): advance, or #GP(0) when the real write faults (no
// such MSR, a reserved bit), as the guest would see without apexvisor.
ExitAction handle_mtrr_write(ExitContext& ctx, uint32_t msr, uint64_t value);

}  // namespace vmm
