// VM launch and the VM-exit entry point (design.md "The path of one boot", steps 2-3).
#include "vmm/vcpu_layout.h"
#include "vmx/asm/guest_gprs.inc"
#include "vmx/entry/vmcs_encodings.inc"

  .text

// int apex_vmx_launch(void)
// Launches the current VMCS so that the guest continues exactly here: GUEST_RSP is this
// function's RSP and GUEST_RIP the label below, so after a successful VMLAUNCH the *guest*
// executes `xor; ret` and returns 0 to the caller with every register as it was (VM entry
// loads only RSP, RIP and RFLAGS of the GPR-like state; the others simply stay). On failure
// the host returns 1 (VMfailInvalid) or 2 (VMfailValid: the VM-instruction error says why).
  .globl apex_vmx_launch
apex_vmx_launch:
  mov $VMCS_guest_rsp, %eax
  vmwrite %rsp, %rax
  mov $VMCS_guest_rip, %eax
  lea .Lguest_continues(%rip), %rdx
  vmwrite %rdx, %rax
  vmlaunch
  // Still here: the launch failed. CF=1 VMfailInvalid, ZF=1 VMfailValid.
  mov $1, %eax
  jc 1f
  mov $2, %eax
1:
  ret
.Lguest_continues:
  xor %eax, %eax
  ret

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
  mov (%rsp), %rdi
  RESTORE_GUEST_GPRS %rdi, APEX_VCPU_SAVE_EGPRS_OFFSET(%rdi)
  vmresume
  // VMRESUME failed: the guest's registers are loaded, the host stack is intact.
  mov (%rsp), %rdi
  call apex_vmresume_failed        // never returns

  .section .note.GNU-stack, "", @progbits
