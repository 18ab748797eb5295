// C++ view of vmx/asm/egpr_capture.S: the launch's capture of R16..R31 (issue P11).
#pragma once
#include <stdint.h>

#include "vmx/gpr_file.hpp"

extern "C" {
// Stores R16..R31 into file->gpr[16..31] only when *save_egprs != 0 (the vCPU's exit-stub
// flag, vmm/policy/xcr0_state.hpp); changes no register. Call it only with the XCR0 that
// the flag describes loaded and CR4.OSXSAVE=1.
void apex_capture_guest_egprs(vmx::GprFile* file, const uint8_t* save_egprs);
// The first EGPR move (where #UD hits on a CPU without APX).
extern const unsigned char apex_capture_guest_egprs_first_egpr[];
}
