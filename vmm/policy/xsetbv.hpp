// XSETBV validation (design.md "XSETBV is validated, never passed through blindly"). The exit
// handler decodes the operands, asks validate_xsetbv, and either injects the fault or executes
// XSETBV on the host and calls apply_xcr0 (vmm/policy/xcr0_state.hpp) before the next entry.
#pragma once
#include <stdint.h>

namespace vmm::policy {

// One row per outcome: name, exception vector (0 = none), text. Checked in this order.
// Sources: SDM Vol 1 13.3 (XCR0 rules), Vol 2B XSETBV; KVM __kvm_set_xcr / kvm_emulate_xsetbv;
// APX: KVM v2 13/16 (spec.md §3); pitfalls: design.md (ACRN #3360, #3248, #5547).
#define APEX_XSETBV_VERDICTS(X)                                                                          \
  X(ok, 0, "valid")                                                                                      \
  X(ud_osxsave_clear, 6, "#UD: CR4.OSXSAVE=0 (hardware raises it before any exit; defensive)")           \
  X(gp_cpl_not_zero, 13, "#GP: CPL > 0 (a privilege fault, also before the exit; defensive)")            \
  X(gp_index_not_zero, 13, "#GP: ECX != 0, only XCR0 is writable (the index is ECX, not RCX)")           \
  X(gp_x87_clear, 13, "#GP: bit 0 (x87) must be 1")                                                      \
  X(gp_reserved_bit, 13, "#GP: reserved bit (no XCR0 user component, or a supervisor one)")              \
  X(gp_unsupported_component, 13, "#GP: component not offered to this guest (e.g. APX when hidden)")     \
  X(gp_avx_without_sse, 13, "#GP: AVX (bit 2) needs SSE (bit 1)")                                         \
  X(gp_avx512_partial, 13, "#GP: opmask, ZMM_Hi256, Hi16_ZMM (bits 5-7) must be all set or all clear")    \
  X(gp_avx512_without_avx, 13, "#GP: AVX-512 state (bits 5-7) needs AVX (bit 2)")                         \
  X(gp_apx_with_mpx, 13, "#GP: APX (bit 19) with BNDREGS/BNDCSR (bits 3/4): both use offset 960")         \
  X(gp_mpx_partial, 13, "#GP: BNDREGS (bit 3) and BNDCSR (bit 4) must be equal")                          \
  X(gp_amx_partial, 13, "#GP: XTILECFG (bit 17) and XTILEDATA (bit 18) must be equal")

enum class XsetbvVerdict : uint8_t {
#define APEX_X(name, vector, text) name,
  APEX_XSETBV_VERDICTS(APEX_X)
#undef APEX_X
};

const char* xsetbv_verdict_name(XsetbvVerdict v);  // "gp_x87_clear"
const char* xsetbv_verdict_text(XsetbvVerdict v);  // the explanation above
uint8_t xsetbv_verdict_vector(XsetbvVerdict v);    // 0 (ok), 6 (#UD) or 13 (#GP, error code 0)

// XSETBV's operands from the guest's GPRs: the index is ECX and the value EDX:EAX; the high
// halves of RCX, RDX and RAX are ignored (design.md pitfalls: ACRN #3360).
struct XsetbvOperands {
  uint32_t index;
  uint64_t value;
};
XsetbvOperands xsetbv_operands(uint64_t rcx, uint64_t rdx, uint64_t rax);

// Guest state the checks depend on.
struct XsetbvContext {
  uint64_t guest_supported_xcr0;  // ApxPolicy::guest_supported_xcr0
  bool cr4_osxsave;               // guest CR4.OSXSAVE
  uint8_t cpl;                    // guest CPL
};

XsetbvVerdict validate_xsetbv(uint32_t index, uint64_t value, const XsetbvContext& ctx);

// The handler's decision on a vCPU's last XSETBV exit, kept in the vCPU before it acts on it.
// Hypercall 7 (xsetbv_verdict, vmm/hypercall.hpp) reports it: a #GP alone cannot show the
// validation worked, because a value the validation wrongly accepts is then executed on the
// host, whose own XSETBV faults too (issue P10).
struct XsetbvRecord {
  uint64_t exits;         // XSETBV exits validated on this vCPU (0: none yet)
  uint64_t value;         // EDX:EAX of the last one
  uint32_t index;         // its ECX
  XsetbvVerdict verdict;  // what validate_xsetbv said
};

}  // namespace vmm::policy
