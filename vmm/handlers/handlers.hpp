// Declarations of every exit handler named in vmm/exit_handlers.def.
#pragma once
#include "vmm/exit_context.hpp"

namespace vmm {

#define EXIT_HANDLER(reason, fn) ExitAction fn(ExitContext& ctx);
#include "vmm/exit_handlers.def"
#undef EXIT_HANDLER

// The shutdown state hardware enters on a triple fault (handlers/triple_fault.cpp): also where
// an exception raised while delivering #DF ends (exit_dispatch.hpp, settle_delivery_exit).
ExitAction enter_shutdown_state(ExitContext& ctx);

}  // namespace vmm
