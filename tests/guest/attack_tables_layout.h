// The block below 1 MiB the `attack` program lends its AP for the descriptor-table attacks
// (attack_tables.cpp builds it, attack_tables_ap.S runs in it): offsets from its start, shared
// by the assembler and C++. Plain #defines: the assembler reads this file too.
#pragma once

#define AT_PAGES 4

#define AT_CODE 0x0000      // the AP's code (copied from attack_tables_ap.S), below AT_RECORD
#define AT_RECORD 0x0800    // what the AP records (TablesRecord in attack_tables.cpp)
#define AT_GDT 0x1000       // the AP's own GDT (AT_SEL_* below)
#define AT_LDT 0x1100       // its LDT: entry 0 a code segment, the one the IDT's gates name
#define AT_GDTR 0x1180      // pseudo-descriptors: u16 limit, u32 base
#define AT_IDTR 0x1188      // the AP's own IDT
#define AT_HV_GDTR 0x1190   // base: a hypervisor page (set by the BSP)
#define AT_HV_IDTR 0x1198   // base: a hypervisor page (set by the BSP)
#define AT_IDTR_GDT 0x11a0  // the AP's second IDT
#define AT_IDT 0x1200       // vectors 0-31, interrupt gates through AT_SEL_LDT_CODE
#define AT_IDT_GDT 0x1300   // vectors 0-31, interrupt gates through AT_SEL_CODE32 (for the LDT step)
#define AT_STACK_TOP 0x3000

#define AT_SEL_CODE32 0x08   // 32-bit code, base = the block
#define AT_SEL_DATA32 0x10   // 32-bit data, base = the block
#define AT_SEL_LDT 0x18      // the LDT at AT_LDT
#define AT_SEL_HV_LDT 0x20   // an LDT in hypervisor memory (base set by the BSP)
#define AT_GDT_ENTRIES 5
#define AT_SEL_LDT_CODE 0x04 // LDT entry 0 (TI=1): 32-bit code, base = the block
#define AT_HV_TABLE_LIMIT 0x7ff  // the tables in hypervisor memory: 256 descriptors, one page

// TablesRecord (attack_tables.cpp): offsets from AT_RECORD.
#define ATR_STAGE 0x00       // u32: the last step the AP began (AT_STAGE_*)
#define ATR_DONE 0x04        // u32: 1 once the GDT and LDT steps ran (the AP then waits for ATR_GO)
#define ATR_F_COUNT 0x08     // the last fault: count, vector, error code, EIP, the CS its handler ran with
#define ATR_F_VECTOR 0x0c
#define ATR_F_ERROR 0x10
#define ATR_F_EIP 0x14
#define ATR_F_CS 0x18
#define ATR_RESUME 0x1c      // u32: where the fault handler resumes (offset in the code)
#define ATR_GO 0x20          // u32, set by the BSP: take the IDT step now (while it prints nothing)
#define ATR_AFTER_SHUTDOWN 0x24  // u32: 1 if execution went on after the triple fault (never)
#define ATR_RESTART 0x28     // u32, set by the BSP: the next start only counts itself and halts
#define ATR_RESTARTED 0x2c   // u32: starts counted that way
#define ATR_RESULTS 0x30     // AT_CHECKS results, AT_RESULT_SIZE bytes each: the last fault's
#define AT_RESULT_SIZE 0x18  // count, vector, error, EIP, CS, then u32 "the load went on" (never)
#define AT_CHECKS 2
#define ATR_SIZE (ATR_RESULTS + AT_CHECKS * AT_RESULT_SIZE)

#define AT_R_GDT 0           // LGDT of a hypervisor page, then MOV to ES of AT_SEL_DATA32
#define AT_R_LDT 1           // LLDT of AT_SEL_HV_LDT, then MOV to ES of AT_SEL_LDT_CODE

#define AT_STAGE_REAL 1
#define AT_STAGE_GDT 2       // protected mode, then the GDT in hypervisor memory
#define AT_STAGE_LDT 3       // the LDT in hypervisor memory
#define AT_STAGE_IDT 4       // LIDT of a hypervisor page and INT3: a triple fault
