// Guest RDMSR/WRMSR of the MTRRs and IA32_MTRRCAP. The host runs without EPT, so the hardware
// MTRRs set the memory type of hypervisor memory: they keep the firmware's values, and the
// guest reads and writes the machine's virtual MTRRs instead (vmm/ept/virtual_mtrrs.hpp), which
// every access exits for (msr_policy.def). With EPT the memory type of a guest access comes
// from the EPT leaf (combined with the guest's PAT), not from the MTRRs (SDM Vol 3C 29.3.7.2),
// so when a write leaves the virtual IA32_MTRR_DEF_TYPE.E set the observer re-types the EPT
// from the virtual state. An OS changes MTRRs with them disabled and enables them last
// (SDM Vol 3A 12.11.7.2), so one change costs one re-type: on the write that sets E.
#pragma once
#include "vmm/ept/virtual_mtrrs.hpp"
#include "vmm/exit_context.hpp"

namespace vmm {

class MtrrWriteObserver {
 public:
  // On the writing CPU, in VMX root, after a write that left IA32_MTRR_DEF_TYPE.E set in
  // `mtrrs` (the machine's virtual MTRRs; ept::retype_from_virtual re-types from them).
  virtual void mtrrs_changed(ExitContext& ctx, ept::VirtualMtrrs& mtrrs) = 0;

 protected:
  ~MtrrWriteObserver() = default;
};

// nullptr (the default, and in unit tests that do not set one): writes only change the state.
void set_mtrr_write_observer(MtrrWriteObserver* observer);

// The machine's virtual MTRRs, set once at boot before any CPU is launched. nullptr (the
// default): every MTRR access #GPs, as on a CPU without MTRRs; the hardware is never touched.
void set_virtual_mtrrs(ept::VirtualMtrrs* mtrrs);

// Whether `msr` is read and written through the virtual MTRRs: ept::is_mtrr_msr or IA32_MTRRCAP.
bool is_virtual_mtrr_msr(uint32_t msr);

// RDMSR of an MTRR or IA32_MTRRCAP: the virtual value; false is #GP(0) (an MSR the CPU lacks:
// a pair at or above VCNT, the fixed ranges without MTRRCAP.FIX, any without CPUID.1:EDX.MTRR).
[[nodiscard]] bool read_virtual_mtrr(uint32_t msr, uint64_t* value);

// WRMSR of an MTRR or IA32_MTRRCAP: advance when ept::mtrr_write_valid accepts the value (then
// stored in the virtual state only), else #GP(0), as the guest would see without apexvisor.
ExitAction handle_mtrr_write(ExitContext& ctx, uint32_t msr, uint64_t value);

}  // namespace vmm
