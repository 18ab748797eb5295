#include "vmm/ept/virtual_mtrrs.hpp"

#include "arch/msr.hpp"
#include "vmm/ept/live_ept_lock.hpp"

namespace vmm::ept {
namespace {

using arch::Msr;

constexpr uint32_t msr_number(Msr m) { return static_cast<uint32_t>(m); }

// Reserved-bit masks (SDM Vol 3A 12.11.2.1 Figure 12-6, 12.11.3 Figure 12-7).
constexpr uint64_t kDefTypeDefined = def_type::kTypeMask | def_type::kFixedEnable | def_type::kEnable;
constexpr uint64_t kPhysBaseReservedLow = 0xf00;  // bits 11:8
constexpr uint64_t kPhysMaskReservedLow = 0x7ff;  // bits 10:0

// Bits MAXPHYADDR and up: reserved in PHYSBASEn and PHYSMASKn.
constexpr uint64_t above_maxphyaddr(const MtrrSnapshot& m) {
  return m.max_phys_bits >= 64 ? 0 : ~((1ull << m.max_phys_bits) - 1);
}

// Table 12-8: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB; WC only where MTRRCAP.WC says so (Figure 12-5).
constexpr bool type_defined(const MtrrSnapshot& m, uint8_t raw) {
  if (raw == static_cast<uint8_t>(MemoryType::wc)) return m.cap & mtrrcap::kWc;
  return is_valid_memory_type(raw);
}

}  // namespace

MtrrRegister mtrr_register(uint32_t msr) {
  if (msr == msr_number(Msr::IA32_MTRRCAP)) return {MtrrReg::cap, 0};
  if (msr == msr_number(Msr::IA32_MTRR_DEF_TYPE)) return {MtrrReg::def_type, 0};
  const uint32_t base0 = msr_number(Msr::IA32_MTRR_PHYSBASE0);
  if (msr >= base0 && msr < base0 + 2 * kMaxVariableMtrrs) {
    const unsigned n = (msr - base0) / 2;
    return {(msr - base0) % 2 ? MtrrReg::phys_mask : MtrrReg::phys_base, n};
  }
  const int fixed = fixed_mtrr_index(msr);
  if (fixed >= 0) return {MtrrReg::fixed, static_cast<unsigned>(fixed)};
  return {};
}

bool mtrr_msr_exists(const MtrrSnapshot& m, uint32_t msr) {
  const MtrrRegister r = mtrr_register(msr);
  if (r.reg == MtrrReg::none || !m.supported) return false;  // 12.11.1: CPUID.1:EDX.MTRR
  switch (r.reg) {
    case MtrrReg::none: return false;
    case MtrrReg::cap:
    case MtrrReg::def_type: return true;
    case MtrrReg::fixed: return m.fixed_supported();             // 12.11.1: MTRRCAP.FIX
    case MtrrReg::phys_base:
    case MtrrReg::phys_mask: return r.index < m.variable_count;  // 12.11.1: VCNT pairs
  }
  return false;
}

bool mtrr_write_valid(const MtrrSnapshot& m, uint32_t msr, uint64_t value) {
  if (!mtrr_msr_exists(m, msr)) return false;
  const MtrrRegister r = mtrr_register(msr);
  switch (r.reg) {
    case MtrrReg::none:
    case MtrrReg::cap: return false;  // read-only (Figure 12-5)
    case MtrrReg::def_type:
      return (value & ~kDefTypeDefined) == 0 && type_defined(m, static_cast<uint8_t>(value & def_type::kTypeMask));
    case MtrrReg::fixed:  // eight one-byte types (12.11.2.2)
      for (unsigned byte = 0; byte < 8; ++byte)
        if (!type_defined(m, static_cast<uint8_t>(value >> (8 * byte)))) return false;
      return true;
    case MtrrReg::phys_base:
      return (value & (kPhysBaseReservedLow | above_maxphyaddr(m))) == 0 &&
             type_defined(m, static_cast<uint8_t>(value & 0xff));
    case MtrrReg::phys_mask:
      return (value & (kPhysMaskReservedLow | above_maxphyaddr(m))) == 0;
  }
  return false;
}

void VirtualMtrrs::init(const MtrrSnapshot& boot) {
  arch::SpinGuard guard(lock_);
  state_ = boot;
  if (state_.supported) state_.cap = (state_.cap & ~mtrrcap::kVcntMask) | state_.variable_count;
  state_.variable_truncated = false;
  // The EPT was built from this state: typed already, unless the MTRRs were off at boot (then
  // everything was UC and the first re-type with E set must walk).
  generation_ = 0;
  retyped_generation_ = state_.enabled() ? 0 : ~0ull;
}

bool VirtualMtrrs::read(uint32_t msr, uint64_t* value) const {
  arch::SpinGuard guard(lock_);
  if (!mtrr_msr_exists(state_, msr)) return false;
  const MtrrRegister r = mtrr_register(msr);
  switch (r.reg) {
    case MtrrReg::none: return false;
    case MtrrReg::cap: *value = state_.cap; break;
    case MtrrReg::def_type: *value = state_.def_type; break;
    case MtrrReg::fixed: *value = state_.fixed[r.index]; break;
    case MtrrReg::phys_base: *value = state_.variable[r.index].base; break;
    case MtrrReg::phys_mask: *value = state_.variable[r.index].mask; break;
  }
  return true;
}

VirtualMtrrs::WriteResult VirtualMtrrs::write(uint32_t msr, uint64_t value) {
  arch::SpinGuard guard(lock_);
  WriteResult w;
  w.enabled = state_.enabled();
  if (!mtrr_write_valid(state_, msr, value)) return w;
  const MtrrRegister r = mtrr_register(msr);
  uint64_t* reg = nullptr;
  uint64_t ignored = 0;  // bits whose change needs no re-type (retype_from_virtual sets E)
  switch (r.reg) {
    case MtrrReg::none:
    case MtrrReg::cap: return w;  // refused by mtrr_write_valid
    case MtrrReg::def_type: reg = &state_.def_type, ignored = def_type::kEnable; break;
    case MtrrReg::fixed: reg = &state_.fixed[r.index]; break;
    case MtrrReg::phys_base: reg = &state_.variable[r.index].base; break;
    case MtrrReg::phys_mask: reg = &state_.variable[r.index].mask; break;
  }
  if ((*reg ^ value) & ~ignored) ++generation_;
  *reg = value;
  w.accepted = true;
  w.enabled = state_.enabled();
  return w;
}

MtrrSnapshot VirtualMtrrs::snapshot(uint64_t* generation) const {
  arch::SpinGuard guard(lock_);
  if (generation) *generation = generation_;
  return state_;
}

MtrrRetype retype_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs) {
  arch::SpinGuard guard(live_ept_lock());
  uint64_t generation = 0;
  MtrrSnapshot m = mtrrs.snapshot(&generation);
  m.def_type |= def_type::kEnable;
  MtrrRetype out;
  out.fresh = generation != mtrrs.retyped_generation_;
  // Nothing changed since the tables were last typed (generation 0: the boot state they were
  // built from): every leaf has its type already, the walk would find nothing. An OS rewrites
  // the same MTRRs on every CPU (Vol 3A 12.11.8): only the first CPU walks.
  if (!out.fresh) {
    out.skipped = true;
    return out;
  }
  PoolUserScope user(ept, PoolUser::mtrr);
  out.status = ept.retype(m, &out.result);
  mtrrs.retyped_generation_ = generation;
  return out;
}

EptStatus map_on_demand_from_virtual(EptIdentityMap& ept, VirtualMtrrs& mtrrs, uint64_t gpa, uint64_t* new_leaves) {
  arch::SpinGuard guard(live_ept_lock());
  MtrrSnapshot m = mtrrs.snapshot();
  m.def_type |= def_type::kEnable;
  PoolUserScope user(ept, PoolUser::on_demand);
  return ept.map_on_demand(m, gpa, new_leaves);
}

}  // namespace vmm::ept
