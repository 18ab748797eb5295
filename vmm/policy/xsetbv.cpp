#include "vmm/policy/xsetbv.hpp"
#include "apexvisor_mutation.h"  // tests/mutation/run only

#include "vmm/policy/xcr0_bits.hpp"

namespace vmm::policy {

const char* xsetbv_verdict_name(XsetbvVerdict v) {
  switch (v) {
#define APEX_X(name, vector, text) \
  case XsetbvVerdict::name: return #name;
    APEX_XSETBV_VERDICTS(APEX_X)
#undef APEX_X
  }
  return "?";
}

const char* xsetbv_verdict_text(XsetbvVerdict v) {
  switch (v) {
#define APEX_X(name, vector, text) \
  case XsetbvVerdict::name: return text;
    APEX_XSETBV_VERDICTS(APEX_X)
#undef APEX_X
  }
  return "?";
}

uint8_t xsetbv_verdict_vector(XsetbvVerdict v) {
  switch (v) {
#define APEX_X(name, vector, text) \
  case XsetbvVerdict::name: return vector;
    APEX_XSETBV_VERDICTS(APEX_X)
#undef APEX_X
  }
  return 13;
}

XsetbvOperands xsetbv_operands(uint64_t rcx, uint64_t rdx, uint64_t rax) {
  return XsetbvOperands{static_cast<uint32_t>(rcx),
                        (static_cast<uint64_t>(static_cast<uint32_t>(rdx)) << 32) | static_cast<uint32_t>(rax)};
}

XsetbvVerdict validate_xsetbv(uint32_t index, uint64_t value, const XsetbvContext& ctx) {
  using V = XsetbvVerdict;
#ifdef APEXVISOR_MUTATION_XSETBV_NO_VALIDATION
  return V::ok;
#endif
  if (!ctx.cr4_osxsave) return V::ud_osxsave_clear;
  if (ctx.cpl != 0) return V::gp_cpl_not_zero;
  if (index != 0) return V::gp_index_not_zero;
  if (!(value & xcr0::X87)) return V::gp_x87_clear;
  if (value & ~xcr0::kKnownUserComponents) return V::gp_reserved_bit;
  if (value & ~ctx.guest_supported_xcr0) return V::gp_unsupported_component;
  if ((value & xcr0::AVX) && !(value & xcr0::SSE)) return V::gp_avx_without_sse;
  if (value & xcr0::AVX512) {
    if ((value & xcr0::AVX512) != xcr0::AVX512) return V::gp_avx512_partial;
    if (!(value & xcr0::AVX)) return V::gp_avx512_without_avx;
  }
  // Before the MPX pair rule, so that APX with either MPX bit names the APX conflict.
  if ((value & xcr0::APX) && (value & xcr0::MPX)) return V::gp_apx_with_mpx;
  if ((value & xcr0::MPX) && (value & xcr0::MPX) != xcr0::MPX) return V::gp_mpx_partial;
  if ((value & xcr0::AMX) && (value & xcr0::AMX) != xcr0::AMX) return V::gp_amx_partial;
  return V::ok;
}

}  // namespace vmm::policy
