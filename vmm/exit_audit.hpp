// Who can cause each VMX exit under apexvisor and what it answers (vmm/exit_audit.def), with
// the compile-time proof that the table is complete and agrees with the handler table: every
// exit reason has exactly one row, every reason a guest can cause has a handler, and no
// handler serves a reason the table calls impossible.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmm/exit_dispatch.hpp"
#include "vmx/exit_reason.hpp"

namespace vmm {

enum class ExitCause : uint8_t { guest, option, never, defect };

struct ExitAuditRow {
  vmx::ExitReason reason;
  ExitCause cause;
  const char* answer;
};

inline constexpr ExitAuditRow kExitAudit[] = {
#define EXIT_AUDIT(reason, cause, answer) {vmx::ExitReason::reason, ExitCause::cause, answer},
#include "vmm/exit_audit.def"
};

namespace detail {

constexpr size_t audit_rows_for(vmx::ExitReason r) {
  size_t n = 0;
  for (const ExitAuditRow& row : kExitAudit) n += row.reason == r;
  return n;
}

constexpr bool every_reason_audited_once() {
  for (vmx::ExitReason r : vmx::kExitReasons)
    if (audit_rows_for(r) != 1) return false;
  return sizeof kExitAudit / sizeof kExitAudit[0] == vmx::kExitReasonCount;
}

constexpr bool handlers_match_audit() {
  for (const ExitAuditRow& row : kExitAudit) {
    const bool handled = kExitHandlers.by_reason[static_cast<size_t>(row.reason)] != nullptr;
    const bool needs_handler = row.cause == ExitCause::guest || row.cause == ExitCause::option;
    if (needs_handler && !handled) return false;  // a guest could stop its CPU
    if (row.cause == ExitCause::never && handled) return false;  // the table would be wrong
  }
  return true;
}

}  // namespace detail

static_assert(detail::every_reason_audited_once(),
              "vmm/exit_audit.def: every reason of vmx/exit_reasons.def needs exactly one row");
static_assert(detail::handlers_match_audit(),
              "vmm/exit_audit.def: a guest- or option-caused exit has no handler in vmm/exit_handlers.def, "
              "or a 'never' exit has one");

}  // namespace vmm
