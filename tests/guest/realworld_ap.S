// The code the `realworld` guest program (realworld.cpp) runs on an AP in the legacy modes an
// operating system passes through or runs in, which the firmware and a 64-bit OS never use
// after apexvisor starts (issue P9). Never executed in place: the BSP copies the bytes between
// realworld_ap_start and realworld_ap_end to a block below 1 MiB (realworld_layout.h), builds
// the tables there and starts the AP with INIT-SIPI-SIPI, so the AP begins here in real mode
// at CS = block >> 4, IP = 0. Every address is an offset in the block: DS = CS in real mode,
// and the protected-mode code and data segments have the block as their base.
//
// Steps, each recorded for the BSP to judge (RealworldRecord in realworld.cpp):
//   real mode: RDMSR of a hidden VMX MSR takes #GP through the IVT, no error code, and goes on;
//   protected mode with its own GDT and IDT: the same RDMSR, now #GP(0) with an error code;
//   PAE paging (CR4.PAE, CR3 -> a PDPT, CR0.PG) and a read through a linear alias;
//   the same with a present PDPTE that sets a reserved bit: the MOV CR0 #GPs(0);
//   a far JMP to a TSS, a far CALL through a task gate, INT n through an IDT task gate: apexvisor
//   refuses the task switch with #TS(the TSS selector) (README, exit table, reason 9);
//   EFER.LME=1 and CR0.PG=1 from a code segment with L=1: #GP(0), IA-32e mode stays off;
//   an empty IDT and INT3: a triple fault, the shutdown state; the BSP's next INIT-SIPI-SIPI
//   then starts the AP again (RWR_RESTART: it only counts that start and halts).
// Every MOV to CR0 that turns paging on or off also flips CR0.NE, a bit apexvisor owns (the
// CR0 guest/host mask, vmm/launch/launch.cpp), so that apexvisor emulates it (exit 28,
// vmm/handlers/cr_access.cpp) instead of the CPU: the answers checked are apexvisor's.
// A fault in protected mode lands in one handler that records vector, error code, EIP and CS
// and resumes at the point the step named (RWR_RESUME). The AP ends halted, interrupts off.
#include "tests/guest/realworld_layout.h"

  .set CR0_PE, 1 << 0
  .set CR0_NE, 1 << 5
  .set CR0_NW, 1 << 29
  .set CR0_CD, 1 << 30
  .set CR0_PG, 1 << 31
  .set CR4_PAE, 1 << 5
  .set IA32_EFER, 0xc0000080
  .set EFER_LME, 1 << 8
  .set IA32_VMX_BASIC, 0x480
  .set REC, RW_RECORD
  .set RES, RW_RECORD + RWR_RESULTS

  .section .rodata.realworld_ap, "a"
  .globl realworld_ap_start, realworld_ap_end, realworld_ap_vectors
  .globl realworld_ap_rdmsr_rm, realworld_ap_rdmsr_pm, realworld_ap_pae_bad
  .globl realworld_ap_jmp_tss, realworld_ap_call_gate, realworld_ap_int_gate, realworld_ap_ia32e
  .code16
realworld_ap_start:
  cli
  mov %cs, %ax
  mov %ax, %ds
  cmpl $0, REC + RWR_RESTART   // the start after the shutdown: count it, halt
  jne restarted
  mov %ax, %ss
  mov $RW_STACK_TOP, %sp
  movl $RW_STAGE_REAL, REC + RWR_STAGE
  lidt RW_RM_IDTR             // IVT entry 13 (BSP-built) -> rm_gp_handler
  mov $IA32_VMX_BASIC, %ecx
realworld_ap_rdmsr_rm:
  rdmsr                       // hidden from the guest: #GP, real-mode style (no error code)
  movl $1, REC + RWR_RM_AFTER

  // Protected mode with our own GDT and IDT. The MOV to CR0 changes PE (not owned by apexvisor
  // under unrestricted guest) and clears CD/NW, as an OS does: apexvisor owns those (the guest
  // sees INIT's 60000010H), so this MOV exits too.
  movl $RW_STAGE_PROTECTED, REC + RWR_STAGE
  lgdtl RW_GDTR
  lidtl RW_PM_IDTR
  mov %cr0, %eax
  and $~(CR0_CD | CR0_NW), %eax
  or $CR0_PE, %eax
  mov %eax, %cr0
  ljmpl $RW_SEL_CODE32, $(pm32 - realworld_ap_start)

  .code32
pm32:
  mov $RW_SEL_DATA32, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $RW_STACK_TOP, %esp
  mov $RW_SEL_FLAT, %ax
  mov %ax, %fs
  mov $RW_SEL_TR, %ax
  ltr %ax                     // a 32-bit TSS in TR (a 16-bit one would #GP IA-32e activation)

// CHECK_BEGIN: forget the last fault, and resume at `resume` after one. CHECK_END: copy it to result `slot`.
.macro CHECK_BEGIN resume
  movl $0, REC + RWR_F_COUNT
  movl $0xffffffff, REC + RWR_F_VECTOR
  movl $0xffffffff, REC + RWR_F_ERROR
  movl $0xffffffff, REC + RWR_F_EIP
  movl $(\resume - realworld_ap_start), REC + RWR_RESUME
.endm
.macro CHECK_END slot
  mov REC + RWR_F_COUNT, %eax
  mov %eax, RES + \slot * RW_RESULT_SIZE + 0
  mov REC + RWR_F_VECTOR, %eax
  mov %eax, RES + \slot * RW_RESULT_SIZE + 4
  mov REC + RWR_F_ERROR, %eax
  mov %eax, RES + \slot * RW_RESULT_SIZE + 8
  mov REC + RWR_F_EIP, %eax
  mov %eax, RES + \slot * RW_RESULT_SIZE + 12
.endm
.macro VALUE slot, n, reg
  mov \reg, RES + \slot * RW_RESULT_SIZE + 16 + 4 * \n
.endm

  CHECK_BEGIN 1f
  mov %cr0, %eax
  VALUE RW_R_PM, 0, %eax
  mov %cs, %eax
  VALUE RW_R_PM, 1, %eax
  mov $IA32_VMX_BASIC, %ecx
realworld_ap_rdmsr_pm:
  rdmsr                       // #GP(0), an error code pushed this time
1:
  CHECK_END RW_R_PM

  // PAE paging. CR4.PAE with CR0.PG=0 loads nothing; the MOV CR0 that sets PG (and NE, so it
  // exits) makes apexvisor load the four PDPTEs from CR3 into the VMCS.
  movl $RW_STAGE_PAE, REC + RWR_STAGE
  CHECK_BEGIN 1f
  mov %cr4, %eax
  or $CR4_PAE, %eax
  mov %eax, %cr4
  mov REC + RWR_BASE, %eax
  add $RW_PDPT_GOOD, %eax
  mov %eax, %cr3
  mov %cr0, %eax
  or $(CR0_PG | CR0_NE), %eax
  mov %eax, %cr0
  mov %fs:(RW_ALIAS_LINEAR + RW_PATTERN_PROBE), %eax
  VALUE RW_R_PAE, 0, %eax
  mov %cr0, %eax
  VALUE RW_R_PAE, 1, %eax
1:
  CHECK_END RW_R_PAE
  mov %cr0, %eax              // paging off again (and NE back: exits too)
  and $~(CR0_PG | CR0_NE), %eax
  mov %eax, %cr0

  // The same with a PDPT whose entry 2 is present and sets bit 1 (R/W, reserved in a PDPTE):
  // the MOV CR0 #GPs(0) and changes nothing (SDM Vol 3A 4.4.1).
  movl $RW_STAGE_PDPTE, REC + RWR_STAGE
  CHECK_BEGIN 1f
  mov REC + RWR_BASE, %eax
  add $RW_PDPT_BAD, %eax
  mov %eax, %cr3
  mov %cr0, %eax
  or $(CR0_PG | CR0_NE), %eax
realworld_ap_pae_bad:
  mov %eax, %cr0
1:
  CHECK_END RW_R_PDPTE
  mov %cr0, %eax
  VALUE RW_R_PDPTE, 0, %eax
  and $~(CR0_PG | CR0_NE), %eax  // in case it went on (a failed check): off again
  mov %eax, %cr0
  mov REC + RWR_BASE, %eax
  add $RW_PDPT_GOOD, %eax
  mov %eax, %cr3

  // Task switches: each exits (reason 9); apexvisor's answer is #TS(new TSS selector).
  movl $RW_STAGE_TASK, REC + RWR_STAGE
  CHECK_BEGIN 1f
realworld_ap_jmp_tss:
  ljmp $RW_SEL_TSS, $0
1:
  CHECK_END RW_R_JMP_TSS
  CHECK_BEGIN 1f
realworld_ap_call_gate:
  lcall $RW_SEL_TASK_GATE, $0
1:
  CHECK_END RW_R_CALL_GATE
  CHECK_BEGIN 1f
realworld_ap_int_gate:
  int $RW_INT_TASK_GATE
1:
  CHECK_END RW_R_INT_GATE

  // IA-32e activation (EFER.LME=1, CR4.PAE=1, then CR0.PG=1) from a code segment with L=1:
  // #GP(0) (SDM Vol 2B MOV CR), EFER.LMA and CR0.PG stay 0. Outside IA-32e mode L is
  // ignored, so the L=1 segment (D=1) runs this as 32-bit code.
  movl $RW_STAGE_IA32E, REC + RWR_STAGE
  CHECK_BEGIN 1f
  mov $IA32_EFER, %ecx
  rdmsr
  or $EFER_LME, %eax
  wrmsr
  ljmp $RW_SEL_CODE_L, $(2f - realworld_ap_start)
2:
  mov %cr0, %eax
  or $(CR0_PG | CR0_NE), %eax
realworld_ap_ia32e:
  mov %eax, %cr0
1:
  ljmp $RW_SEL_CODE32, $(3f - realworld_ap_start)
3:
  CHECK_END RW_R_IA32E
  mov $IA32_EFER, %ecx
  rdmsr
  VALUE RW_R_IA32E, 0, %eax
  and $~EFER_LME, %eax
  wrmsr
  mov %cr0, %eax
  VALUE RW_R_IA32E, 1, %eax

  movl $RW_STAGE_DONE, REC + RWR_STAGE
  lock incl REC + RWR_DONE

  // Shutdown: an IDT with limit 0, then INT3: #GP (vector 3 lies past the limit), #DF (so does
  // 13), a triple fault (so does 8). Nothing after the INT3 may run.
6:
  pause
  cmpl $0, REC + RWR_SHUTDOWN_GO
  je 6b
  movl $RW_STAGE_SHUTDOWN, REC + RWR_STAGE
  pushl $0
  pushw $0
  lidtl (%esp)                // limit 0, base 0
  int3
  movl $1, REC + RWR_AFTER_SHUTDOWN
4:
  cli
  hlt
  jmp 4b

  .code16
restarted:
  lock incl REC + RWR_RESTARTED
5:
  cli
  hlt
  jmp 5b
  .code32

// Protected-mode exceptions 0-31: one entry each, pushing ~0 where the CPU pushes no error
// code, then the vector; the common part records and resumes at RWR_RESUME.
.macro VEC v, err
pm_vec_\v:
  .if \err == 0
  pushl $0xffffffff
  .endif
  pushl $\v
  jmp pm_fault
.endm
  VEC 0, 0
  VEC 1, 0
  VEC 2, 0
  VEC 3, 0
  VEC 4, 0
  VEC 5, 0
  VEC 6, 0
  VEC 7, 0
  VEC 8, 1
  VEC 9, 0
  VEC 10, 1
  VEC 11, 1
  VEC 12, 1
  VEC 13, 1
  VEC 14, 1
  VEC 15, 0
  VEC 16, 0
  VEC 17, 1
  VEC 18, 0
  VEC 19, 0
  VEC 20, 0
  VEC 21, 1
  VEC 22, 0
  VEC 23, 0
  VEC 24, 0
  VEC 25, 0
  VEC 26, 0
  VEC 27, 0
  VEC 28, 0
  VEC 29, 0
  VEC 30, 0
  VEC 31, 0

pm_fault:                     // [esp] vector, [esp+4] error, [esp+8] EIP, [esp+12] CS, [esp+16] EFLAGS
  push %eax
  mov 4(%esp), %eax
  mov %eax, REC + RWR_F_VECTOR
  mov 8(%esp), %eax
  mov %eax, REC + RWR_F_ERROR
  mov 12(%esp), %eax
  mov %eax, REC + RWR_F_EIP
  mov 16(%esp), %eax
  mov %eax, REC + RWR_F_CS
  lock incl REC + RWR_F_COUNT
  mov REC + RWR_RESUME, %eax
  mov %eax, 12(%esp)
  pop %eax
  add $8, %esp
  iret

  .code16
rm_gp_handler:                // [sp] = IP, [sp+2] = CS, [sp+4] = FLAGS: no error code in real mode
  push %bp
  mov %sp, %bp
  lock incl %cs:REC + RWR_RM_GP
  mov 2(%bp), %ax
  mov %ax, %cs:REC + RWR_RM_GP_IP
  mov 4(%bp), %ax
  mov %ax, %cs:REC + RWR_RM_GP_IP + 2
  addw $2, 2(%bp)             // past the 2-byte RDMSR
  pop %bp
  iret

  // The IVT's and IDT's handlers, as offsets in the block (read by the BSP).
  .balign 4
realworld_ap_vectors:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .long pm_vec_\v - realworld_ap_start
  .endr
  .long rm_gp_handler - realworld_ap_start
realworld_ap_end:
  .org realworld_ap_start + RW_RECORD  // fails to assemble if the code reaches the record
  .code64
  .section .note.GNU-stack, "", @progbits  // no executable stack
