// Drivers for tests/apx/stub_harness.cpp: they put known values into the registers right
// before apx_gpr_save / apx_gpr_restore (vmx/asm/apx_gpr_stub.S) run, so the values the
// harness checks are the ones the routines saw, and they keep the C++ caller's callee-saved
// registers intact around apx_gpr_restore. Register loads come from arch/gpr_table.def.

// movq disp+8*n(%rax), reg for every legacy register but RAX (the pointer, loaded last),
// RSP, RSI and RDI (apx_gpr_save's arguments).
.macro DRIVER_LOAD_LEGACY reg:req, n:req
	.if (\n != 0) && (\n != 4) && (\n != 6) && (\n != 7)
	movq	8*\n(%rax), \reg
	.endif
.endm

.macro PUSH_CALLEE_SAVED
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
.endm

.macro POP_CALLEE_SAVED
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
.endm

	.text

// void driver_save(const uint64_t pattern[32], GprFile* out, const uint8_t* flag)
// Loads pattern[n] into every legacy GPR but RSP/RSI/RDI, then calls apx_gpr_save(out, flag).
	.p2align 4
	.globl	driver_save
	.type	driver_save, @function
driver_save:
	PUSH_CALLEE_SAVED
	movq	%rdi, %rax		// pattern
	movq	%rsi, %rdi		// apx_gpr_save(file = out,
	movq	%rdx, %rsi		//              egpr_flag = flag)
#define GPR_LEGACY(n, q, d, w, b) DRIVER_LOAD_LEGACY %q, n ;
#define GPR_EXTENDED(n, q, d, w, b)
#include "arch/gpr_table.def"
	movq	(%rax), %rax
	call	apx_gpr_save
	POP_CALLEE_SAVED
	ret
	.size	driver_save, . - driver_save

// void driver_restore_then_save(const GprFile* in, GprFile* out, const uint8_t* flag)
// apx_gpr_restore(in, flag), then at once apx_gpr_save(out, flag): everything but RSP, RSI
// and RDI (reloaded with the arguments in between) must come back unchanged.
	.p2align 4
	.globl	driver_restore_then_save
	.type	driver_restore_then_save, @function
driver_restore_then_save:
	PUSH_CALLEE_SAVED
	pushq	%rsi			// out
	pushq	%rdx			// flag
	movq	%rdx, %rsi
	call	apx_gpr_restore		// every GPR but RSP now holds in->gpr[n]
	movq	8(%rsp), %rdi
	movq	(%rsp), %rsi
	call	apx_gpr_save
	addq	$16, %rsp
	POP_CALLEE_SAVED
	ret
	.size	driver_restore_then_save, . - driver_restore_then_save

// void driver_restore_then_capture(const GprFile* in, GprFile* out, const uint8_t* flag)
// apx_gpr_restore(in, flag), then at once apex_capture_guest_egprs(out, flag)
// (vmx/asm/egpr_capture.S): with the flag set, out->gpr[16..31] must equal in->gpr[16..31].
	.p2align 4
	.globl	driver_restore_then_capture
	.type	driver_restore_then_capture, @function
driver_restore_then_capture:
	PUSH_CALLEE_SAVED
	pushq	%rsi			// out
	pushq	%rdx			// flag
	movq	%rdx, %rsi
	call	apx_gpr_restore
	movq	8(%rsp), %rdi
	movq	(%rsp), %rsi
	call	apex_capture_guest_egprs
	addq	$16, %rsp
	POP_CALLEE_SAVED
	ret
	.size	driver_restore_then_capture, . - driver_restore_then_capture

	.section .note.GNU-stack, "", @progbits
