// The answer to a task-switch exit (vmm/handlers/task_switch.cpp says why it is a refusal).
#pragma once
#include <stdint.h>

#include "vmm/exit_action.hpp"

namespace vmm {

// #TS with the new TSS's selector (RPL cleared) and EXT, from the exit qualification (selector
// 15:0, source 31:30) and the IDT-vectoring information of the exit. The dispatcher combines
// it with an exception being delivered through a task gate by the double-fault rules (#DF, or
// a stop for the shutdown after #DF: combine_with_interrupted_event).
ExitAction task_switch_refusal(uint64_t qualification, uint32_t idt_vectoring_info);

}  // namespace vmm
