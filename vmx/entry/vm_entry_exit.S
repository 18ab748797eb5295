// VM launch and the VM-exit entry point (design.md "The path of one boot", steps 2-3).
#include "vmm/vcpu_layout.h"
#include "vmx/asm/guest_gprs.inc"
#include "vmx/entry/vmcs_encodings.inc"

  .text

// The launch itself is apex_vmx_launch_to (guest_continuation.S): the guest never resumes
// inside this image.

// VM exit lands here (HOST_RIP) with RSP = HOST_RSP, where the launch code stored the
// vCPU pointer: [RSP] = Vcpu*. Every GPR but RSP still holds the guest's value, and the
// guest's XCR0 is still loaded (VMX does not switch it): R16..R31 may be touched only when
// the vCPU's flag says guest XCR0.APX=1 (vmx/asm/guest_gprs.inc explains the gate).
  .globl apex_vm_exit_entry
apex_vm_exit_entry:
  push %rdi                        // guest RDI: the base register is needed for the vCPU
  mov 8(%rsp), %rdi                // Vcpu* (its GprFile is at offset 0)
  SAVE_GUEST_GPRS %rdi, APEX_VCPU_SAVE_EGPRS_OFFSET(%rdi)
  popq (APEX_VCPU_GPRS_OFFSET + 8 * 7)(%rdi)  // guest RDI into gpr[7]; RSP = HOST_RSP again
  // RSP is 16-byte aligned here (HOST_RSP = stack top - 16), as the ABI wants at a call.
  call apex_handle_exit            // (Vcpu*): returns when the guest is to be resumed
  // The re-entry window (vmm/host/reentry_window.hpp): an NMI landing anywhere from here to
  // the VMRESUME returns here, so work it armed is seen before the guest runs. Only the
  // test and the register loads are inside; RSP stays HOST_RSP.
.Lreentry_window_start:
  mov (%rsp), %rdi
  cmpl $0, APEX_VCPU_PENDING_OFFSET(%rdi)  // Vcpu::pending: one word, all kinds of work
  jne 1f
  RESTORE_GUEST_GPRS %rdi, APEX_VCPU_SAVE_EGPRS_OFFSET(%rdi)
.Lreentry_vmresume:
  vmresume
  // VMRESUME failed: the guest's registers are loaded, the host stack is intact.
  mov (%rsp), %rdi
  call apex_vmresume_failed        // never returns
1:
  call apex_do_pending_work        // (Vcpu*), RSP 16-byte aligned as at the first call
  jmp .Lreentry_window_start

// The window's bounds for the host's NMI handler (vmm/host/host_exception.cpp). Local labels,
// so that the stub stays one symbol (tests/apx/egpr_only_in_stub.py counts EGPR moves per
// symbol).
  .section .rodata
  .balign 8
  .globl apex_reentry_window
apex_reentry_window:  // {first instruction of the window, the VMRESUME}
  .quad .Lreentry_window_start, .Lreentry_vmresume
  .text

  .section .note.GNU-stack, "", @progbits
