// apex_capture_guest_egprs: the launch's one flag-gated save of R16..R31 (issue P11). The
// image links it (vmm/launch/launch.cpp); host tests run it (tests/apx/stub_harness.cpp) and
// tests/apx/compare_stub_bytes.py --kind capture checks its bytes.
//
//   apex_capture_guest_egprs(GprFile* file = %rdi, const uint8_t* save_egprs = %rsi)
//     When *save_egprs != 0, stores R16..R31 into file->gpr[16..31]; otherwise touches no
//     EGPR. Changes no register but RFLAGS.
//
// Why: a firmware that already runs with XCR0.APX=1 may hold live values in R16..R31 when it
// calls into apexvisor, and it continues as the guest after VMLAUNCH. Nothing between this
// call and VMLAUNCH touches an EGPR (the image is EGPR-free, tests/apx/egpr_only_in_stub.py),
// so what is captured here is what the guest still holds, and gpr[16..31] match the CPU from
// the first instruction on (the dumps and the first exit's handler read them). The moves are
// SAVE_GUEST_EGPRS, the exit stub's own EGPR block: one source, one gate, one set of offsets.
// The caller runs with CR4.OSXSAVE=1 and the firmware's XCR0 loaded (launch.cpp).
#include "vmx/asm/guest_gprs.inc"

	.text

	.p2align 4, 0xcc		// explicit fill: GNU as and LLVM pick different NOPs
	.globl	apex_capture_guest_egprs
	.type	apex_capture_guest_egprs, @function
	.globl	apex_capture_guest_egprs_first_egpr
apex_capture_guest_egprs:
	SAVE_GUEST_EGPRS %rdi, (%rsi), 0, apex_capture_guest_egprs_first_egpr
	ret
	.size	apex_capture_guest_egprs, . - apex_capture_guest_egprs

	.section .note.GNU-stack, "", @progbits
