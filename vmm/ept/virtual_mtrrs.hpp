// The guest's MTRRs, kept in software (design.md invariant "Memory types come from the guest's
// (virtual) MTRRs"). The host runs without EPT, so the hardware MTRRs set the memory type of
// hypervisor memory: they keep the firmware's values, and a guest's RDMSR/WRMSR of an MTRR
// (vmm/handlers/mtrr_write.hpp) reads and writes this state instead. With EPT the MTRRs do not
// type guest accesses anyway (SDM Vol 3C 29.3.7.2): the EPT leaves do, and they are re-typed
// from this state (retype_from_virtual) when a write leaves IA32_MTRR_DEF_TYPE.E set.
//
// One state per machine, shared by every CPU: the SDM requires all processors to hold the same
// MTRR values (Vol 3A 12.11.8), and an OS writes them on each CPU in turn. It starts as the
// boot CPU's MTRRs (load_mtrrs in boot/virtualize.cpp). A write is checked as the hardware
// checks it (Vol 3A 12.11, Figures 12-5..12-8) and refused with #GP(0) the same way.
#pragma once
#include <stdint.h>

#include "arch/spinlock.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/mtrr.hpp"

namespace vmm::ept {

// Which MTRR register an MSR number names (IA32_MTRRCAP included), and its index: the pair
// number n for PHYSBASEn/PHYSMASKn, the position in MtrrSnapshot::fixed for a fixed range.
enum class MtrrReg : uint8_t { none, cap, def_type, fixed, phys_base, phys_mask };
struct MtrrRegister {
  MtrrReg reg = MtrrReg::none;
  unsigned index = 0;
};
MtrrRegister mtrr_register(uint32_t msr);

// Whether the CPU `m` describes has the MSR (RDMSR of one it lacks is #GP(0)): none without
// CPUID.1:EDX.MTRR; the fixed ranges only with MTRRCAP.FIX; pair n only below VCNT.
bool mtrr_msr_exists(const MtrrSnapshot& m, uint32_t msr);

// Whether WRMSR `msr` <- `value` is accepted by the CPU `m` describes; false is #GP(0):
// a missing MSR (above), IA32_MTRRCAP (read-only), a reserved bit (DEF_TYPE: all but 7:0, 10,
// 11; PHYSBASEn: 11:8 and MAXPHYADDR and up; PHYSMASKn: 10:0 and MAXPHYADDR and up), or an
// undefined memory type (Table 12-8: 2, 3, 7 and up; WC without MTRRCAP.WC) in DEF_TYPE 7:0,
// PHYSBASEn 7:0 or any byte of a fixed-range MTRR.
bool mtrr_write_valid(const MtrrSnapshot& m, uint32_t msr, uint64_t value);

struct MtrrRetype;
class VirtualMtrrs;
[[nodiscard]] MtrrRetype retype_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs);  // below
[[nodiscard]] EptStatus map_on_demand_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs, uint64_t gpa,
                                                   uint64_t* new_leaves = nullptr);  // below

class VirtualMtrrs {
 public:
  // The boot CPU's MTRRs. MTRRCAP.VCNT reads as the number of pairs the snapshot holds
  // (min(VCNT, kMaxVariableMtrrs): a CPU with more has never existed), so that every pair
  // MTRRCAP announces exists. Not initialised: a CPU without MTRRs (every access #GP).
  void init(const MtrrSnapshot& boot);

  // RDMSR: false when the MSR does not exist (#GP(0)).
  [[nodiscard]] bool read(uint32_t msr, uint64_t* value) const;

  struct WriteResult {
    bool accepted = false;  // false: #GP(0), nothing changed
    bool enabled = false;   // IA32_MTRR_DEF_TYPE.E after the write
  };
  // WRMSR: validated (mtrr_write_valid), then stored here only.
  WriteResult write(uint32_t msr, uint64_t value);

  // A consistent copy of the whole state. `generation` (may be null) counts the accepted
  // writes that changed a value other than IA32_MTRR_DEF_TYPE.E (0: the boot state).
  MtrrSnapshot snapshot(uint64_t* generation = nullptr) const;

 private:
  friend MtrrRetype retype_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs);
  friend EptStatus map_on_demand_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs, uint64_t gpa,
                                              uint64_t* new_leaves);

  mutable arch::SpinLock lock_;
  MtrrSnapshot state_{};
  uint64_t generation_ = 0;
  uint64_t retyped_generation_ = 0;  // the state the EPT was last re-typed from; live_ept_lock
};

// What retype_from_virtual did.
struct MtrrRetype {
  EptStatus status = EptStatus::ok;
  EptIdentityMap::RetypeResult result;
  // The MTRRs differ from those of the previous re-type (in more than E): the first CPU to
  // re-type after a change says so; the others, which an OS makes rewrite the same values
  // (Vol 3A 12.11.8), find nothing new. Lets the caller warn once per change.
  bool fresh = false;
  // Not fresh, so the walk was skipped: the tables hold these types already (the generation
  // of the state equals the one they were last typed from; the boot state at first).
  bool skipped = false;
};

// Re-types `ept` from `mtrrs` after a write that left IA32_MTRR_DEF_TYPE.E set (the caller
// runs INVEPT afterwards). Under live_ept_lock, the state is copied and the map re-typed from
// the copy, so that of two CPUs re-typing at once the later one uses the later state.
// The copy is taken with E set, as the writing CPU left it: while an OS updates the MTRRs of
// every CPU in turn (12.11.8), another CPU may have cleared E in the shared state for its own
// update, and its values are the same ones.
[[nodiscard]] MtrrRetype retype_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs);

// An EPT violation above RAM (EptIdentityMap::map_on_demand): the block is typed from the
// guest's MTRRs as the last re-type saw them (E taken as set, for the reason above; with E
// clear at every CPU the tables keep the types of the last enabled state, as for the rest of
// the map), under live_ept_lock like every other change of the live map.
[[nodiscard]] EptStatus map_on_demand_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs, uint64_t gpa,
                                                   uint64_t* new_leaves);

}  // namespace vmm::ept
