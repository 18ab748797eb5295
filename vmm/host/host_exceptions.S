// Host (VMX-root) exception entry: one stub per vector 0..31 and a common path that saves
// the host registers in gpr_table.def order and calls apex_host_exception(frame). NMIs and
// the faults of the *_safe routines below return; everything else prints a diagnostic and
// halts that CPU (vmm/host/host_exception.cpp).

#define GPR_SLOT(n) (8 * (n))
#define FRAME_VECTOR (8 * 16)

// Vectors that push an error code (SDM Vol 3A 7.13, Table 7-1).
.macro EXC_STUB v
  .p2align 4
apex_host_exc_\v:
  .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
  .else
  pushq $0
  .endif
  pushq $\v
  jmp apex_host_exception_common
.endm

  .text
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  EXC_STUB \v
  .endr

  .p2align 4
apex_host_exception_common:
  // Frame: gpr[16] (slot 4, RSP, stays unused: the CPU pushed it), then vector, error code
  // and the CPU's interrupt frame.
  sub $(8 * 16), %rsp
#define GPR_LEGACY(n, q, d, w, b) .if n != 4; mov %q, GPR_SLOT(n)(%rsp); .endif;
#define GPR_EXTENDED(n, q, d, w, b)
#include "arch/gpr_table.def"
  mov %rsp, %rdi
  mov %rsp, %rbx            // callee-saved: the frame survives the call
  and $-16, %rsp            // System V: 16-byte alignment at the call
  call apex_host_exception  // returns only when the event is recoverable
  mov %rbx, %rsp
#define GPR_LEGACY(n, q, d, w, b) .if n != 4; mov GPR_SLOT(n)(%rsp), %q; .endif;
#define GPR_EXTENDED(n, q, d, w, b)
#include "arch/gpr_table.def"
  add $(8 * 16 + 16), %rsp  // registers, vector, error code
  iretq

  .section .data
  .p2align 3
  .globl apex_host_exception_stubs
apex_host_exception_stubs:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad apex_host_exc_\v
  .endr

// ---- instructions that may fault on guest-chosen operands --------------------------------
// A #GP at one of the *_insn labels resumes at the matching *_fixup label (the table
// apex_fault_fixups is read by the #GP path), which returns false. The guest then gets the
// #GP the hardware raised instead of the host crashing.

  .text
// bool apex_rdmsr_safe(uint32_t msr, uint64_t* value)
  .globl apex_rdmsr_safe
apex_rdmsr_safe:
  mov %edi, %ecx
apex_rdmsr_insn:
  rdmsr
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, (%rsi)
  mov $1, %eax
  ret
apex_rdmsr_fixup:
  xor %eax, %eax
  ret

// bool apex_wrmsr_safe(uint32_t msr, uint64_t value)
  .globl apex_wrmsr_safe
apex_wrmsr_safe:
  mov %edi, %ecx
  mov %rsi, %rax
  mov %rsi, %rdx
  shr $32, %rdx
apex_wrmsr_insn:
  wrmsr
  mov $1, %eax
  ret
apex_wrmsr_fixup:
  xor %eax, %eax
  ret

// bool apex_xsetbv_safe(uint32_t index, uint64_t value)
  .globl apex_xsetbv_safe
apex_xsetbv_safe:
  mov %edi, %ecx
  mov %rsi, %rax
  mov %rsi, %rdx
  shr $32, %rdx
apex_xsetbv_insn:
  xsetbv
  mov $1, %eax
  ret
apex_xsetbv_fixup:
  xor %eax, %eax
  ret

  .section .data
  .p2align 3
  .globl apex_fault_fixups
apex_fault_fixups:  // pairs {faulting instruction, resume address}, then a zero pair
  .quad apex_rdmsr_insn, apex_rdmsr_fixup
  .quad apex_wrmsr_insn, apex_wrmsr_fixup
  .quad apex_xsetbv_insn, apex_xsetbv_fixup
  .quad 0, 0

  .section .note.GNU-stack, "", @progbits
