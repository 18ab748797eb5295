// Exit dispatch (design.md "The path of one boot", step 4): the basic exit reason selects a
// handler from one table (exit_handlers.def); the handler's ExitAction is applied to the
// VMCS. A reason without a handler stops the guest CPU with a dump: unknown exits are never
// silently resumed.
#pragma once

#include "vmm/exit_context.hpp"

namespace vmm {

// Counts the exit, runs the handler for `basic_reason`.
ExitAction dispatch_exit(ExitContext& ctx, uint16_t basic_reason);

// Applies `action`: advance RIP past the exiting instruction (clearing STI/MOV-SS blocking
// and RFLAGS.RF as the instruction's retirement would), or program the event injection.
// Returns false for stop: the caller dumps the VMCS and never resumes this guest CPU.
bool apply_exit_action(ExitContext& ctx, const ExitAction& action);

// The handler registered for an exit reason (nullptr: none). For tests and the dump.
ExitHandler exit_handler_for(uint16_t basic_reason);

}  // namespace vmm
