// VM-exit reasons (SDM Vol. 3C 25.9.1 "Basic VM-Exit Information" and 28.2.1: the
// exit-reason field layout; Vol. 3D Appendix C for the numbers, in exit_reasons.def).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace vmx {

enum class ExitReason : uint16_t {
#define EXIT_REASON(n, name) name = n,
#include "vmx/exit_reasons.def"
};

inline constexpr size_t kExitReasonCount = 0
#define EXIT_REASON(n, name) +1
#include "vmx/exit_reasons.def"
    ;

// Every exit reason of the table, in table (numeric) order.
inline constexpr ExitReason kExitReasons[kExitReasonCount] = {
#define EXIT_REASON(n, name) ExitReason::name,
#include "vmx/exit_reasons.def"
};

// One past the largest basic exit reason in the table: the size of a handler table indexed
// by basic exit reason.
inline constexpr size_t kExitReasonLimit = [] {
  size_t limit = 0;
  for (ExitReason r : kExitReasons)
    if (static_cast<size_t>(r) + 1 > limit) limit = static_cast<size_t>(r) + 1;
  return limit;
}();

// "ept_violation"; nullptr for a number the SDM does not define.
const char* exit_reason_name(uint16_t basic);
inline const char* exit_reason_name(ExitReason r) { return exit_reason_name(static_cast<uint16_t>(r)); }
bool exit_reason_known(uint16_t basic);

// The 32-bit exit-reason field (VMCS 0x4402), SDM 25.9.1 / 28.2.1.
struct ExitReasonField {
  uint32_t raw;

  constexpr uint16_t basic() const { return static_cast<uint16_t>(raw & 0xffff); }
  constexpr ExitReason reason() const { return static_cast<ExitReason>(basic()); }
  // Bit 25: shadow-stack-prematurely-busy (CET); bit 26: bus lock asserted (VMM bus-lock
  // detection); bit 27: VM exit from enclave mode; bit 28: pending MTF VM exit; bit 29: VM
  // exit from VMX root operation (SMM); bit 31: VM-entry failure.
  constexpr bool shadow_stack_busy() const { return raw & (1u << 25); }
  constexpr bool bus_lock_asserted() const { return raw & (1u << 26); }
  constexpr bool enclave_mode() const { return raw & (1u << 27); }
  constexpr bool pending_mtf() const { return raw & (1u << 28); }
  constexpr bool from_vmx_root() const { return raw & (1u << 29); }
  constexpr bool entry_failure() const { return raw & (1u << 31); }
};

}  // namespace vmx
