// Encoding corners of SAVE_GUEST_GPRS / RESTORE_GUEST_GPRS that the real stub does not hit:
// every legacy base register (RBP/R13 need mod=10 not 00; RSP-like R12 needs a SIB; R8..R15
// set REX2.B3) and displacements whose EGPR slots would fit disp8 (the {disp32} case).
// Never executed: tests/apx/compare_stub_bytes.py assembles it with each spelling, checks
// the bytes are identical and decodes every EGPR move. A symbol
// apx_variant_<save|restore>_<base>_<disp> (m = minus) names what follows it.
#include "vmx/asm/guest_gprs.inc"

.macro APX_VARIANT base_name:req, disp:req, disp_name:req
apx_variant_save_\base_name\()_\disp_name:
	SAVE_GUEST_GPRS %\base_name, 8(%rsp), \disp
apx_variant_restore_\base_name\()_\disp_name:
	RESTORE_GUEST_GPRS %\base_name, 8(%rsp), \disp
.endm

	.text
#define GPR_LEGACY(n, q, d, w, b) .ifnc q, rsp ; APX_VARIANT q, 0, 0 ; APX_VARIANT q, -128, m128 ; APX_VARIANT q, 4096, 4096 ; .endif ;
#define GPR_EXTENDED(n, q, d, w, b)
#include "arch/gpr_table.def"
apx_variant_end:

	.section .note.GNU-stack, "", @progbits
