// The memory the `realworld` guest program (realworld.cpp) lends its AP, shared by the AP's
// code (realworld_ap.S, which addresses everything by these offsets from its own base) and
// the BSP (which builds the tables at them before it starts the AP). One block of
// RW_PAGES pages below 1 MiB; offsets from its start. Plain #defines: the assembler reads
// this file too.
#pragma once

#define RW_PAGES 8

#define RW_CODE 0x0000        // the AP's code (copied from realworld_ap.S), below RW_RECORD
#define RW_RECORD 0x0c00      // what the AP records (RealworldRecord in realworld.cpp)
#define RW_GDT 0x1000         // the protected-mode GDT (RW_SEL_* below)
#define RW_GDTR 0x1100        // u16 limit, u32 base (LGDT with a 32-bit operand)
#define RW_PM_IDTR 0x1108     // the protected-mode IDT's limit and base
#define RW_RM_IDTR 0x1110     // the real-mode IVT's limit and base
#define RW_TSS_TARGET 0x1200  // the TSS the task switches name (never entered)
#define RW_TSS_TR 0x1280      // the TSS loaded into TR (a 32-bit one)
#define RW_IVT 0x1400         // the real-mode IVT (vectors 0-13)
#define RW_IDT 0x1800         // the protected-mode IDT (vectors 0-0x40)
#define RW_STACK_TOP 0x3000   // one stack for both modes, from 0x2000
#define RW_PDPT_GOOD 0x3000   // PAE PDPT: entry 0 -> RW_PD, the others not present
#define RW_PDPT_BAD 0x3020    // the same, and entry 2 present with reserved bit 1 (R/W)
#define RW_PD 0x4000          // PDE 0: 2 MiB identity; PDE 1 -> RW_PT
#define RW_PT 0x5000          // PTE 0 -> RW_PATTERN: linear RW_ALIAS_LINEAR
#define RW_PATTERN 0x6000     // a page of known words, read back through the alias

#define RW_ALIAS_LINEAR 0x200000  // PDE 1, PTE 0: the pattern page's alias
#define RW_PATTERN_PROBE 0x10     // the offset in the pattern page the AP reads
#define RW_PATTERN_WORD 0xa11a5e00  // RW_PATTERN's dword at offset i*4 is this + i

// GDT selectors (RPL 0).
#define RW_SEL_CODE32 0x08   // 32-bit code, base = the block
#define RW_SEL_DATA32 0x10   // 32-bit data, base = the block
#define RW_SEL_FLAT 0x18     // 32-bit data, base 0 (for linear addresses)
#define RW_SEL_TSS 0x28      // available 32-bit TSS at RW_TSS_TARGET
#define RW_SEL_TASK_GATE 0x30  // task gate -> RW_SEL_TSS
#define RW_SEL_CODE_L 0x38   // code with L=1 (and D=1): 32-bit outside IA-32e mode
#define RW_SEL_TR 0x40       // available 32-bit TSS at RW_TSS_TR, for LTR
#define RW_GDT_ENTRIES 9

#define RW_IDT_VECTORS 0x41  // 0-31 the exceptions, 0x40 a task gate -> RW_SEL_TSS
#define RW_INT_TASK_GATE 0x40

// RealworldRecord (realworld.cpp): offsets from RW_RECORD.
#define RWR_BASE 0x00        // u32, set by the BSP: the block's physical address
#define RWR_STAGE 0x04       // u32: the last step the AP began (RW_STAGE_*)
#define RWR_DONE 0x08        // u32: 1 once every step ran
#define RWR_RM_GP 0x0c       // u32: real-mode #GPs taken
#define RWR_RM_GP_IP 0x10    // u16 IP, u16 CS the real-mode #GP pushed
#define RWR_RM_AFTER 0x14    // u32: 1 once execution went on after the real-mode RDMSR
#define RWR_F_COUNT 0x18     // the last protected-mode fault: count, vector, error code
#define RWR_F_VECTOR 0x1c    // (~0 when the vector pushes none), EIP, CS
#define RWR_F_ERROR 0x20
#define RWR_F_EIP 0x24
#define RWR_F_CS 0x28
#define RWR_RESUME 0x2c      // u32: where the fault handler resumes (offset in the code)
#define RWR_RESTART 0x30     // u32, set by the BSP: the next start only counts itself and halts
#define RWR_RESTARTED 0x34   // u32: starts counted that way
#define RWR_AFTER_SHUTDOWN 0x38  // u32: 1 if execution went on after the triple fault (never)
#define RWR_SHUTDOWN_GO 0x3c // u32, set by the BSP: take the shutdown step now (while it prints
                             // nothing, so that apexvisor's line about it stays whole)
#define RWR_RESULTS 0x40     // RW_CHECKS results, RW_RESULT_SIZE bytes each
#define RW_RESULT_SIZE 0x18  // u32 faults, vector, error, eip, value, value2
#define RW_CHECKS 7

// Result slots, in the order the AP runs them.
#define RW_R_PM 0          // protected mode: RDMSR of a hidden MSR; value CR0, value2 CS
#define RW_R_PAE 1         // PAE paging on; value the alias's word, value2 CR0
#define RW_R_PDPTE 2       // PAE paging with a reserved PDPTE bit; value CR0 after
#define RW_R_JMP_TSS 3     // far JMP to a TSS
#define RW_R_CALL_GATE 4   // far CALL through a task gate
#define RW_R_INT_GATE 5    // INT 0x40 through an IDT task gate
#define RW_R_IA32E 6       // IA-32e activation from CS.L=1; value EFER, value2 CR0 after

// RWR_STAGE values: where an AP that stopped stopped.
#define RW_STAGE_REAL 1
#define RW_STAGE_PROTECTED 2
#define RW_STAGE_PAE 3
#define RW_STAGE_PDPTE 4
#define RW_STAGE_TASK 5
#define RW_STAGE_IA32E 6
#define RW_STAGE_DONE 7
#define RW_STAGE_SHUTDOWN 8  // after DONE: an empty IDT and INT3, a triple fault
