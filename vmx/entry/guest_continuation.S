// Calls into the hypervisor image that record where the guest continues once launched
// (vmx/entry/guest_continuation.h), and the launch that resumes the guest there.
#include "vmx/entry/guest_continuation.h"
#include "vmx/entry/vmcs_encodings.inc"

  .text

// Stores the caller's frame into the continuation at (%rsp), which sits \frame bytes below
// the return address: RIP and RSP as after the caller's `ret`, RFLAGS, callee-saved registers.
.macro SAVE_CONTINUATION frame
  mov \frame(%rsp), %rax
  mov %rax, APEX_CONT_RIP(%rsp)
  lea (\frame + 8)(%rsp), %rax
  mov %rax, APEX_CONT_RSP(%rsp)
  pushfq
  popq APEX_CONT_RFLAGS(%rsp)
  mov %rbx, APEX_CONT_RBX(%rsp)
  mov %rbp, APEX_CONT_RBP(%rsp)
  mov %rsi, APEX_CONT_RSI(%rsp)
  mov %rdi, APEX_CONT_RDI(%rsp)
  mov %r12, APEX_CONT_R12(%rsp)
  mov %r13, APEX_CONT_R13(%rsp)
  mov %r14, APEX_CONT_R14(%rsp)
  mov %r15, APEX_CONT_R15(%rsp)
.endm

// The callee-saved registers as they were at the call (the normal return, nothing launched).
.macro RESTORE_CALLEE_SAVED
  mov APEX_CONT_RBX(%rsp), %rbx
  mov APEX_CONT_RBP(%rsp), %rbp
  mov APEX_CONT_RSI(%rsp), %rsi
  mov APEX_CONT_RDI(%rsp), %rdi
  mov APEX_CONT_R12(%rsp), %r12
  mov APEX_CONT_R13(%rsp), %r13
  mov APEX_CONT_R14(%rsp), %r14
  mov APEX_CONT_R15(%rsp), %r15
.endm

// The continuation's size rounded so that RSP is 16-byte aligned at the inner call (it is
// 8 mod 16 at entry, after the return address).
  .set FRAME, APEX_CONT_SIZE + ((24 - (APEX_CONT_SIZE % 16)) % 16)

// uint64_t apex_call_capturing(uint64_t (*fn)(void* arg, const GuestContinuation* c), void* arg)
// System V. Calls fn(arg, c) with c describing this call's return. fn's normal return comes
// back here; a CPU launched with c returns from this call as the guest instead, with RAX set
// by the launch.
  .globl apex_call_capturing
apex_call_capturing:
  sub $FRAME, %rsp
  SAVE_CONTINUATION FRAME
  mov %rdi, %rax                   // fn
  mov %rsi, %rdi                   // arg
  mov %rsp, %rsi                   // c
  call *%rax
  RESTORE_CALLEE_SAVED
  add $FRAME, %rsp
  ret

// void EFIAPI apex_ap_call_capturing(void* arg): an MP services AP procedure (MS ABI, RCX =
// arg) that calls apex_ap_procedure(arg, c) (System V) with c describing the return to the
// firmware. A launched AP returns to MP services as the guest.
  .globl apex_ap_call_capturing
apex_ap_call_capturing:
  sub $FRAME, %rsp
  SAVE_CONTINUATION FRAME
  mov %rcx, %rdi                   // arg
  mov %rsp, %rsi                   // c
  call apex_ap_procedure
  RESTORE_CALLEE_SAVED
  add $FRAME, %rsp
  ret

// int apex_vmx_launch_to(const GuestContinuation* c, uint64_t guest_rax)
// Launches the current VMCS so that the guest continues at c: GUEST_RIP, GUEST_RSP and
// GUEST_RFLAGS from c, the callee-saved registers loaded from c, RAX = guest_rax, and the
// caller-saved ones (RCX, RDX, R8-R11) zero, so that no hypervisor address reaches the guest
// in a register (VM entry loads no GPR but RSP). On failure returns 1 (VMfailInvalid), 2
// (VMfailValid) or 3 (a VMWRITE of the continuation failed) with this host's own
// callee-saved registers intact.
  .globl apex_vmx_launch_to
apex_vmx_launch_to:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  mov $VMCS_guest_rip, %eax
  vmwrite APEX_CONT_RIP(%rdi), %rax
  jbe .Lvmwrite_failed             // CF or ZF: VMfailInvalid / VMfailValid
  mov $VMCS_guest_rsp, %eax
  vmwrite APEX_CONT_RSP(%rdi), %rax
  jbe .Lvmwrite_failed
  mov $VMCS_guest_rflags, %eax
  vmwrite APEX_CONT_RFLAGS(%rdi), %rax
  jbe .Lvmwrite_failed
  xor %ecx, %ecx
  xor %edx, %edx
  xor %r8d, %r8d
  xor %r9d, %r9d
  xor %r10d, %r10d
  xor %r11d, %r11d
  mov %rsi, %rax                   // the guest's RAX: the call's return value
  mov APEX_CONT_RBX(%rdi), %rbx
  mov APEX_CONT_RBP(%rdi), %rbp
  mov APEX_CONT_R12(%rdi), %r12
  mov APEX_CONT_R13(%rdi), %r13
  mov APEX_CONT_R14(%rdi), %r14
  mov APEX_CONT_R15(%rdi), %r15
  mov APEX_CONT_RSI(%rdi), %rsi
  mov APEX_CONT_RDI(%rdi), %rdi    // last: it held c
  vmlaunch
  // Still here: the launch failed. CF=1 VMfailInvalid, ZF=1 VMfailValid.
  mov $1, %eax
  jc 1f
  mov $2, %eax
  jmp 1f
.Lvmwrite_failed:
  mov $3, %eax
1:
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret

  .section .note.GNU-stack, "", @progbits
