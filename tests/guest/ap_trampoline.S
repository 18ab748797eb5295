// The real-mode code an AP runs when ap_restart_checks.cpp starts it with INIT-SIPI-SIPI
// itself (issue P6). Never executed in place: the guest copies the bytes between
// ap_trampoline_start and ap_trampoline_end to a page below 1 MiB and sends STARTUP with
// that page's number as the vector, so the AP begins here at CS = vector << 8, IP = 0.
// Everything is addressed relative to CS (DS = CS), so the copy runs wherever it lands.
//
// It records what the AP saw on arrival (the state INIT + STARTUP must give: SDM Vol 3A
// Table 10-1 and 11.6.1), counts its run, and halts with interrupts off. Only INIT (or
// NMI/SMI) wakes it from there, which is how the next round and the firmware's MP services
// take the AP back.
//
// The record's layout is ApTrampolineRecord in ap_restart_checks.cpp (offsets below).

  .set RECORD, 0x100          // record offset in the page; code stays below it
  .set REC_RUNS, RECORD + 0   // u32: times this code ran (lock inc)
  .set REC_EDX, RECORD + 4    // u32: EDX on arrival (the processor signature, CPUID.1:EAX)
  .set REC_CS, RECORD + 8     // u16: CS selector on arrival
  .set REC_MSW, RECORD + 10   // u16: SMSW on arrival (CR0 bits 15:0 as the guest reads them)
  .set REC_ECX1, RECORD + 12  // u32: CPUID.1:ECX seen from real mode
  .set REC_ESP, RECORD + 16   // u32: ESP on arrival (0 after INIT)

  .section .rodata.ap_trampoline, "a"
  .globl ap_trampoline_start, ap_trampoline_end
  .code16
ap_trampoline_start:
  cli
  mov %edx, %cs:REC_EDX       // first: nothing below may change EDX before it is kept
  mov %esp, %cs:REC_ESP
  mov %cs, %ax
  mov %ax, %ds
  mov %ax, REC_CS
  smsw %ax
  mov %ax, REC_MSW
  mov $1, %eax
  xor %ecx, %ecx
  cpuid                       // exits to apexvisor from real mode
  mov %ecx, REC_ECX1
  lock incl REC_RUNS          // last: the BSP waits for this
1:
  hlt
  jmp 1b
ap_trampoline_end:
  .org ap_trampoline_start + RECORD  // fails to assemble if the code reaches the record
  .code64
  .section .note.GNU-stack, "", @progbits  // no executable stack
