// Declarations of every exit handler named in vmm/exit_handlers.def.
#pragma once
#include "vmm/exit_context.hpp"

namespace vmm {

#define EXIT_HANDLER(reason, fn) ExitAction fn(ExitContext& ctx);
#include "vmm/exit_handlers.def"
#undef EXIT_HANDLER

}  // namespace vmm
