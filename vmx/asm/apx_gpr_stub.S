// apx_gpr_save / apx_gpr_restore: the exit stub's GPR macros (vmx/asm/guest_gprs.inc) as
// two System V-callable functions, so that host tests can run them and
// tests/apx/compare_stub_bytes.py can check their bytes. Declared in vmx/asm/apx_gpr_stub.hpp.
//
//   apx_gpr_save(GprFile* file = %rdi, const uint8_t* egpr_flag = %rsi)
//     Stores the caller's RAX..R15 (RSP excepted; slot 7 gets %rdi, i.e. `file`, and
//     slot 6 gets %rsi, i.e. `egpr_flag`) and, when *egpr_flag != 0, R16..R31. Changes
//     no register but RFLAGS.
//   apx_gpr_restore(const GprFile* file = %rdi, const uint8_t* egpr_flag = %rsi)
//     Loads R16..R31 (when *egpr_flag != 0), then RAX..R15 except RSP, from `file`,
//     callee-saved registers included: only assembly that expects that may call it.
//
// The first EGPR move of each gets a global label (apx_gpr_save_first_egpr,
// apx_gpr_restore_first_egpr): on a CPU or OS without APX that is where #UD must hit.
#include "vmx/asm/guest_gprs.inc"

	.text

	.p2align 4, 0xcc		// explicit fill: GNU as and LLVM pick different NOPs
	.globl	apx_gpr_save
	.type	apx_gpr_save, @function
	.globl	apx_gpr_save_first_egpr
apx_gpr_save:
	movq	%rdi, 8*7(%rdi)		// the base register's own slot (the macro skips it)
	SAVE_GUEST_GPRS %rdi, (%rsi), 0, apx_gpr_save_first_egpr
	ret
	.size	apx_gpr_save, . - apx_gpr_save

	.p2align 4, 0xcc
	.globl	apx_gpr_restore
	.type	apx_gpr_restore, @function
	.globl	apx_gpr_restore_first_egpr
apx_gpr_restore:
	RESTORE_GUEST_GPRS %rdi, (%rsi), 0, apx_gpr_restore_first_egpr
	ret
	.size	apx_gpr_restore, . - apx_gpr_restore

	.section .note.GNU-stack, "", @progbits
