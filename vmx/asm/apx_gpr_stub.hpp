// C++ view of vmx/asm/apx_gpr_stub.S: the exit stub's GPR save/restore macros as callable
// functions, for host tests (tests/apx/). The image's exit stub uses the macros directly
// (vmx/asm/guest_gprs.inc).
#pragma once
#include <stdint.h>

#include "vmx/gpr_file.hpp"

extern "C" {
// Stores the caller's GPRs (RSP excepted) into `file`, R16..R31 only when *egpr_flag != 0.
// Slot 7 (RDI) receives `file` and slot 6 (RSI) `egpr_flag`: those are the caller's values.
void apx_gpr_save(vmx::GprFile* file, const uint8_t* egpr_flag);
// Loads every GPR but RSP from `file` (R16..R31 only when *egpr_flag != 0), callee-saved
// registers included: call it only from assembly that expects that.
void apx_gpr_restore(const vmx::GprFile* file, const uint8_t* egpr_flag);
// Addresses of the first EGPR move in each (where #UD hits without XCR0.APX).
extern const unsigned char apx_gpr_save_first_egpr[];
extern const unsigned char apx_gpr_restore_first_egpr[];
}
