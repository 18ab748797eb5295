// The real-mode code an AP runs when ap_restart_checks.cpp starts it with INIT-SIPI-SIPI
// itself (issue P6). Never executed in place: the guest copies the bytes between
// ap_trampoline_start and ap_trampoline_end to a page below 1 MiB and sends STARTUP with
// that page's number as the vector, so the AP begins here at CS = vector << 8, IP = 0.
// Everything is addressed relative to CS (DS = CS), so the copy runs wherever it lands.
//
// It records what the AP saw on arrival (the state INIT + STARTUP must give: SDM Vol 3A
// Table 10-1 and 11.6.1: the GPRs, EFLAGS and CR0 before anything changes them), counts its
// run, and halts with interrupts off. Only INIT (or NMI/SMI) wakes it from there, which is how
// the next round and the firmware's MP services take the AP back. When the BSP has set
// REC_SPIN it loops instead, counting REC_BEAT, so that INIT and STARTUP reach a CPU that is
// running guest code (ap_native_init_checks.cpp); clearing REC_SPIN parks it in HLT again.
// IVT entry 2 counts NMIs (the BSP also points the low-memory IVT's entry 2 here, for an NMI
// taken before LIDT).
//
// Before counting its run it also takes a #GP in real mode (issue P9): RDMSR of a VMX
// capability MSR, which apexvisor hides, through its own IVT entry 13. On hardware that is a
// #GP with no error code (real mode pushes none); apexvisor once injected one with an error
// code, which VM entry refuses, and the CPU stopped. The handler records the CS and IP it
// finds on the stack (an error code would shift them) and returns past the RDMSR.
//
// It also records the rest of INIT's state (Table 10-1) from its own real-mode code: CR4, CR2,
// DR7, IA32_EFER, the data segment selectors, and their bases, shown by a word read through
// each of DS ES FS GS SS at SEG_PROBE (a different word each): with base 0 that is linear
// SEG_PROBE, where the BSP wrote a pattern (ApSegmentProbe in ap_trampoline.hpp).
//
// The record's layout is ApTrampolineRecord in ap_trampoline.hpp (offsets below).

  .set RECORD, 0x200          // record offset in the page; code stays below it
  .set REC_RUNS, RECORD + 0   // u32: times this code ran (lock inc)
  .set REC_EDX, RECORD + 4    // u32: EDX on arrival (the processor signature, CPUID.1:EAX)
  .set REC_CS, RECORD + 8     // u16: CS selector on arrival
  .set REC_MSW, RECORD + 10   // u16: SMSW on arrival (CR0 bits 15:0 as the guest reads them)
  .set REC_ECX1, RECORD + 12  // u32: CPUID.1:ECX seen from real mode
  .set REC_ESP, RECORD + 16   // u32: ESP on arrival (0 after INIT)
  .set REC_GP, RECORD + 20    // u32: #GPs taken (the handler counts them)
  .set REC_GP_IP, RECORD + 24 // u16: IP the #GP pushed (the RDMSR's offset)
  .set REC_GP_CS, RECORD + 26 // u16: CS the #GP pushed
  .set REC_AFTER, RECORD + 28 // u32: 1 once execution went on after the RDMSR
  .set REC_EAX, RECORD + 32   // u32 each: EAX EBX ECX ESI EDI EBP on arrival (0 after INIT)
  .set REC_EBX, RECORD + 36
  .set REC_ECX, RECORD + 40
  .set REC_ESI, RECORD + 44
  .set REC_EDI, RECORD + 48
  .set REC_EBP, RECORD + 52
  .set REC_EFLAGS, RECORD + 56 // u32: EFLAGS on arrival (2 after INIT)
  .set REC_CR0, RECORD + 60   // u32: CR0 as read on arrival (60000010H after INIT)
  .set REC_SPIN, RECORD + 64  // u32, set by the BSP: loop after the run instead of halting
  .set REC_BEAT, RECORD + 68  // u32: that loop's count
  .set REC_NMI, RECORD + 72   // u32: NMIs taken
  .set REC_IP, RECORD + 76    // u16: IP the code started at
  .set REC_CR4, RECORD + 80   // u32 each: CR4, CR2, DR7 as read on arrival (0, 0, 400H after INIT)
  .set REC_CR2, RECORD + 84
  .set REC_DR7, RECORD + 88
  .set REC_EFER, RECORD + 92  // u32 x2: IA32_EFER (EAX, EDX of RDMSR; 0 after INIT)
  .set REC_SEL, RECORD + 100  // u16 x5: DS ES FS GS SS selectors on arrival (0 after INIT)
  .set REC_PROBE, RECORD + 110 // u16 x5: the word read through DS ES FS GS SS at SEG_PROBE + 2*i
  .set SEG_PROBE, 0x3f0       // offset in each data segment (linear with base 0: IVT vectors FCH-FEH)
  .set IVT, 0x300             // vectors 0-13 (4 bytes each), ours only
  .set IDTR, 0x340            // limit, 24-bit base (real-mode LIDT)
  .set IA32_VMX_BASIC, 0x480
  .set IA32_EFER, 0xc0000080

  .section .rodata.ap_trampoline, "a"
  .globl ap_trampoline_start, ap_trampoline_end
  .code16
ap_trampoline_start:
  // Nothing before these stores may change a register or a flag: CS overrides (DS is not
  // known yet), MOVs only.
  mov %edx, %cs:REC_EDX
  mov %esp, %cs:REC_ESP
  mov %eax, %cs:REC_EAX
  mov %ebx, %cs:REC_EBX
  mov %ecx, %cs:REC_ECX
  mov %esi, %cs:REC_ESI
  mov %edi, %cs:REC_EDI
  mov %ebp, %cs:REC_EBP
  mov %ds, %cs:REC_SEL + 0
  mov %es, %cs:REC_SEL + 2
  mov %fs, %cs:REC_SEL + 4
  mov %gs, %cs:REC_SEL + 6
  mov %ss, %cs:REC_SEL + 8
  mov %ds:SEG_PROBE + 0, %ax  // through each segment as INIT left it, before any is loaded
  mov %ax, %cs:REC_PROBE + 0
  mov %es:SEG_PROBE + 2, %ax
  mov %ax, %cs:REC_PROBE + 2
  mov %fs:SEG_PROBE + 4, %ax
  mov %ax, %cs:REC_PROBE + 4
  mov %gs:SEG_PROBE + 6, %ax
  mov %ax, %cs:REC_PROBE + 6
  mov %ss:SEG_PROBE + 8, %ax
  mov %ax, %cs:REC_PROBE + 8
  mov %cs, %ax
  mov %ax, %ss
  mov $0x1000, %sp            // a stack at the top of this page (INIT left SS:SP = 0:0)
  pushfl
  popl %cs:REC_EFLAGS
  cli
  mov %cr0, %eax
  mov %eax, %cs:REC_CR0
  mov %cr4, %eax
  mov %eax, %cs:REC_CR4
  mov %cr2, %eax
  mov %eax, %cs:REC_CR2
  mov %dr7, %eax
  mov %eax, %cs:REC_DR7
  call 2f                     // pushes the IP of 2: (this code's offset from its start)
2:
  pop %ax
  sub $(2b - ap_trampoline_start), %ax
  mov %ax, %cs:REC_IP
  mov %cs, %ax
  mov %ax, %ds
  mov %ax, REC_CS
  smsw %ax
  mov %ax, REC_MSW
  mov $1, %eax
  xor %ecx, %ecx
  cpuid                       // exits to apexvisor from real mode
  mov %ecx, REC_ECX1
  mov %cs, %ax
  movzwl %ax, %eax
  shl $4, %eax
  add $IVT, %eax
  movw $(14 * 4 - 1), IDTR
  mov %eax, IDTR + 2
  movw $(gp_handler - ap_trampoline_start), IVT + 13 * 4
  mov %cs, IVT + 13 * 4 + 2
  movw $(ap_trampoline_nmi - ap_trampoline_start), IVT + 2 * 4
  mov %cs, IVT + 2 * 4 + 2
  lidt IDTR                   // after its entries: an NMI may come at any time
  mov $IA32_EFER, %ecx        // after LIDT: a #GP here would be counted, not run the firmware's IVT
  rdmsr
  mov %eax, REC_EFER
  mov %edx, REC_EFER + 4
  mov $IA32_VMX_BASIC, %ecx
  .globl ap_trampoline_rdmsr
ap_trampoline_rdmsr:
  rdmsr                       // hidden from the guest: #GP(0)
  movl $1, REC_AFTER
  // Leave behind state the next INIT must reset (SDM Vol 3A Table 10-1), so that every round's
  // arrival checks, not only the first, show a reset instead of reading what nothing changed:
  // CR0.CD/NW clear (apexvisor owns them), CR4.OSFXSR, CR2, DR7.LE, EFER.SCE, ES/FS/GS.
  mov %cr0, %eax
  and $~0x60000000, %eax
  mov %eax, %cr0
  mov %cr4, %eax
  or $0x200, %eax
  mov %eax, %cr4
  mov $0x5a5a5000, %eax
  mov %eax, %cr2
  mov $0x500, %eax
  mov %eax, %dr7
  mov $0xc0000080, %ecx
  rdmsr
  or $1, %eax
  wrmsr
  mov %cs, %ax
  mov %ax, %es
  mov %ax, %fs
  mov %ax, %gs
  lock incl REC_RUNS          // last: the BSP waits for this
1:
  cmpl $0, REC_SPIN
  je 3f
  lock incl REC_BEAT
  pause
  jmp 1b
3:
  hlt
  jmp 1b

  .globl ap_trampoline_nmi
ap_trampoline_nmi:            // CS-relative: it may run before DS is set
  lock incl %cs:REC_NMI
  iret

gp_handler:                   // [sp] = IP, [sp+2] = CS, [sp+4] = FLAGS
  push %bp
  mov %sp, %bp
  lock incl %cs:REC_GP
  mov 2(%bp), %ax
  mov %ax, %cs:REC_GP_IP
  mov 4(%bp), %ax
  mov %ax, %cs:REC_GP_CS
  addw $2, 2(%bp)             // past the 2-byte RDMSR
  pop %bp
  iret
ap_trampoline_end:
  .org ap_trampoline_start + RECORD  // fails to assemble if the code reaches the record
  .code64
  .section .note.GNU-stack, "", @progbits  // no executable stack
