// The AP's code for the `attack` program's descriptor-table attacks (attack_tables.cpp): the
// BSP copies the bytes between attack_tables_ap_start and attack_tables_ap_end to a block below
// 1 MiB (attack_tables_layout.h), builds the tables there and starts the AP with
// INIT-SIPI-SIPI; it begins here in real mode at CS = block >> 4, IP 0. Every address is an
// offset in the block (DS = CS in real mode; the segments have the block as their base).
//
//   1. protected mode with its own GDT, LDT and IDT;
//   2. LGDT of a table in hypervisor memory (it reads zeros), then MOV to ES of selector 0x10:
//      the zero descriptor is not a data segment, so #GP(0x10) (SDM Vol 2B MOV, "#GP(selector)
//      if the segment is not a data or readable code segment"). Delivering it loads CS from the
//      gate's selector: the gates name a code segment in the LDT, which LDTR still caches, so
//      the handler runs although every GDT descriptor reads zeros; it loads the good GDT back
//      before its IRET (which reloads CS from the GDT) and the AP goes on;
//   3. LLDT of an LDT descriptor (in the good GDT) whose base is a hypervisor page, then MOV to
//      ES of LDT selector 0x04: that descriptor reads zeros too, #GP(0x04) (the TI bit kept in
//      the error code). The gates of the first IDT name the LDT, so this step runs under a
//      second IDT whose gates name the GDT's code segment; the good LDT and IDT come back after;
//   4. once the BSP says go: LIDT of a table in hypervisor memory, then INT3: gate 3 reads
//      zeros (#GP), so does 13 (#DF), so does 8: a triple fault (SDM Vol 3A 6.15), the shutdown
//      state. Nothing after the INT3 may run; the BSP's next INIT-SIPI-SIPI starts the AP
//      again (ATR_RESTART: it only counts that start and halts).
#include "tests/guest/attack_tables_layout.h"

  .set CR0_PE, 1 << 0
  .set REC, AT_RECORD

  .section .rodata.attack_tables_ap, "a"
  .globl attack_tables_ap_start, attack_tables_ap_end, attack_tables_ap_vectors
  .globl attack_tables_ap_load_es, attack_tables_ap_load_es_ldt, attack_tables_ap_int3
  .code16
attack_tables_ap_start:
  cli
  mov %cs, %ax
  mov %ax, %ds
  cmpl $0, REC + ATR_RESTART  // the start after the shutdown: count it, halt
  jne restarted
  mov %ax, %ss
  mov $AT_STACK_TOP, %sp
  movl $AT_STAGE_REAL, REC + ATR_STAGE
  lgdtl AT_GDTR
  lidtl AT_IDTR
  mov %cr0, %eax
  or $CR0_PE, %eax
  mov %eax, %cr0
  ljmpl $AT_SEL_CODE32, $(pm32 - attack_tables_ap_start)

  .code32
pm32:
  mov $AT_SEL_DATA32, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $AT_STACK_TOP, %esp
  mov $AT_SEL_LDT, %ax
  lldt %ax

// CHECK_BEGIN: forget the last fault, and resume at `resume` after one. CHECK_END: copy it to
// result `slot`. LOADED: the segment load went on (never).
.macro CHECK_BEGIN resume
  movl $0, REC + ATR_F_COUNT
  movl $0xffffffff, REC + ATR_F_VECTOR
  movl $0xffffffff, REC + ATR_F_ERROR
  movl $0xffffffff, REC + ATR_F_EIP
  movl $0xffffffff, REC + ATR_F_CS
  movl $(\resume - attack_tables_ap_start), REC + ATR_RESUME
.endm
.macro CHECK_END slot
  mov REC + ATR_F_COUNT + 0, %eax
  mov %eax, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 0
  mov REC + ATR_F_COUNT + 4, %eax
  mov %eax, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 4
  mov REC + ATR_F_COUNT + 8, %eax
  mov %eax, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 8
  mov REC + ATR_F_COUNT + 12, %eax
  mov %eax, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 12
  mov REC + ATR_F_COUNT + 16, %eax
  mov %eax, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 16
.endm
.macro LOADED slot
  movl $1, REC + ATR_RESULTS + \slot * AT_RESULT_SIZE + 20
.endm

  // 2. The GDT in hypervisor memory.
  movl $AT_STAGE_GDT, REC + ATR_STAGE
  CHECK_BEGIN 1f
  lgdtl AT_HV_GDTR
  mov $AT_SEL_DATA32, %ax
attack_tables_ap_load_es:
  mov %ax, %es                // the descriptor reads zeros: #GP(0x10)
  LOADED AT_R_GDT
1:
  lgdtl AT_GDTR               // (the handler did already; again in case no fault came)
  CHECK_END AT_R_GDT

  // 3. The LDT in hypervisor memory, under the IDT whose gates name the GDT.
  movl $AT_STAGE_LDT, REC + ATR_STAGE
  lidtl AT_IDTR_GDT
  CHECK_BEGIN 1f
  mov $AT_SEL_HV_LDT, %ax
  lldt %ax                    // reads only its descriptor, in the good GDT
  mov $AT_SEL_LDT_CODE, %ax
attack_tables_ap_load_es_ldt:
  mov %ax, %es                // LDT entry 0 reads zeros: #GP(0x04)
  LOADED AT_R_LDT
1:
  CHECK_END AT_R_LDT
  mov $AT_SEL_LDT, %ax
  lldt %ax
  lidtl AT_IDTR
  mov $AT_SEL_DATA32, %ax
  mov %ax, %es
  lock incl REC + ATR_DONE

  // 4. The IDT in hypervisor memory, when the BSP is quiet.
2:
  pause
  cmpl $0, REC + ATR_GO
  je 2b
  movl $AT_STAGE_IDT, REC + ATR_STAGE
  lidtl AT_HV_IDTR
attack_tables_ap_int3:
  int3                        // gates 3, 13 and 8 read zeros: a triple fault
  movl $1, REC + ATR_AFTER_SHUTDOWN
3:
  cli
  hlt
  jmp 3b

  .code16
restarted:
  lock incl REC + ATR_RESTARTED
4:
  cli
  hlt
  jmp 4b
  .code32

// Exceptions 0-31: one entry each, pushing ~0 where the CPU pushes no error code, then the
// vector; the common part records and resumes at ATR_RESUME.
.macro VEC v, err
vec_\v:
  .if \err == 0
  pushl $0xffffffff
  .endif
  pushl $\v
  jmp fault
.endm
  .irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,29,30,31
  VEC \v, 0
  .endr
  .irp v, 8,10,11,12,13,14,17,21
  VEC \v, 1
  .endr

fault:                        // [esp] vector, [esp+4] error, [esp+8] EIP, [esp+12] CS
  lgdtl AT_GDTR               // DS still holds the block (a segment register caches its descriptor)
  push %eax
  mov 4(%esp), %eax
  mov %eax, REC + ATR_F_VECTOR
  mov 8(%esp), %eax
  mov %eax, REC + ATR_F_ERROR
  mov 12(%esp), %eax
  mov %eax, REC + ATR_F_EIP
  mov %cs, %eax
  mov %eax, REC + ATR_F_CS
  lock incl REC + ATR_F_COUNT
  mov REC + ATR_RESUME, %eax
  mov %eax, 12(%esp)
  pop %eax
  add $8, %esp
  iret                        // reloads CS 0x08 from the good GDT

  // The IDT's handlers, as offsets in the block (read by the BSP).
  .balign 4
attack_tables_ap_vectors:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .long vec_\v - attack_tables_ap_start
  .endr
attack_tables_ap_end:
  .org attack_tables_ap_start + AT_RECORD  // fails to assemble if the code reaches the record
  .code64
  .section .note.GNU-stack, "", @progbits  // no executable stack
