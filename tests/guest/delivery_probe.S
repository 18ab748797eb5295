// Event delivery onto a trapped stack (attack.cpp, issues P8/P9): an exception or a self-IPI
// delivered while RSP points into a page the hypervisor traps (hypervisor memory, a page the
// EPT write monitor watches). Under a private 256-entry IDT every vector lands in a stub that
// records it and never IRETs through the frame (in hypervisor memory the frame reads zeros):
// it counts the delivery, keeps the frame's RIP and CS and the RSP it ran on, restores the
// probe's own RSP from guest_delivery_saved_rsp and resumes at guest_delivery_resume.
//
// int guest_delivery_probe(uint64_t stack, int how, uint32_t icr_low, uint64_t apic_mmio)
//   how 0: INT3, 1: UD2, 2: a self-IPI (ICR low word icr_low, through the xAPIC page at
//   apic_mmio or, when it is 0, the x2APIC ICR MSR), then interrupts on for a while.
//   Returns the vector delivered, or -1 when none was.
// int guest_delivery_wait(void): interrupts on for a while under the same IDT (a duplicate
//   delivery would land there); returns the vector delivered or -1.

// The entry both probes share: interrupts off, the firmware's IDTR kept on the probe's stack,
// the private IDT loaded, the RSP and the resume point the stubs return to recorded.
.macro delivery_enter
  pushfq
  cli
  sub $16, %rsp
  sidt (%rsp)
  lidt guest_delivery_idtr(%rip)
  mov %rsp, guest_delivery_saved_rsp(%rip)
  lea delivery_fixup(%rip), %rax
  mov %rax, guest_delivery_resume(%rip)
.endm

// Interrupts on for a while (a pending or duplicate delivery lands now), then off again.
.macro interrupts_on_for_a_while
  mov $200000, %ecx
9:
  pause
  dec %ecx
  jnz 9b
  cli
.endm

  .text
  .globl guest_delivery_probe
guest_delivery_probe:
  delivery_enter
  mov %edx, %eax                    // ICR low word
  mov %rdi, %rsp                    // from here on: the trapped stack, nothing pushed by us
  cmp $1, %esi
  jb delivery_int3
  je delivery_ud2
  test %rcx, %rcx
  jz 1f
  movl %eax, 0x300(%rcx)            // xAPIC ICR low: self-IPI (shorthand in icr_low)
  jmp 2f
1:
  xor %edx, %edx
  mov $0x830, %ecx                  // IA32_X2APIC_ICR
  wrmsr
2:
  sti
  nop                               // the STI shadow ends: the interrupt is delivered here
  interrupts_on_for_a_while
  jmp delivery_none
delivery_int3:
  int3
  jmp delivery_none
delivery_ud2:
  ud2
delivery_none:
  mov guest_delivery_saved_rsp(%rip), %rsp
  mov $-1, %eax
delivery_fixup:
  movq $0, guest_delivery_resume(%rip)
  lidt (%rsp)
  add $16, %rsp
  popfq
  ret

  .globl guest_delivery_wait
guest_delivery_wait:
  delivery_enter
  sti
  interrupts_on_for_a_while
  jmp delivery_none

// One stub per vector, 16 bytes apart (guest_delivery_stubs + 16 * vector): the vector in
// EAX, then the common part. Nothing here touches the stack but the frame reads.
  .p2align 4
  .globl guest_delivery_stubs
guest_delivery_stubs:
  vector = 0
  .rept 256
  mov $vector, %eax
  jmp delivery_common
  .p2align 4
  vector = vector + 1
  .endr

delivery_common:
  mov guest_delivery_resume(%rip), %rdx
  test %rdx, %rdx
  jz 9f                             // not during a probe: stop here, visibly
  incl guest_delivery_count(%rip)
  mov %rsp, guest_delivery_rsp(%rip)
  mov (%rsp), %rcx                  // the frame (no error code for the vectors probed)
  mov %rcx, guest_delivery_frame_rip(%rip)
  mov 8(%rsp), %rcx
  mov %rcx, guest_delivery_frame_cs(%rip)
  mov guest_delivery_saved_rsp(%rip), %rsp
  movq $0, guest_delivery_resume(%rip)
  jmp *%rdx
9:
  cli
  hlt
  jmp 9b

  .section .data
  .p2align 4
  .globl guest_delivery_idt
guest_delivery_idt:
  .fill 256 * 16, 1, 0              // filled by attack.cpp
  .globl guest_delivery_idtr
guest_delivery_idtr:
  .word 256 * 16 - 1
  .quad 0
  .p2align 3
  .globl guest_delivery_count
guest_delivery_count:
  .long 0, 0
  .globl guest_delivery_rsp
guest_delivery_rsp:
  .quad 0
  .globl guest_delivery_frame_rip
guest_delivery_frame_rip:
  .quad 0
  .globl guest_delivery_frame_cs
guest_delivery_frame_cs:
  .quad 0
guest_delivery_saved_rsp:
  .quad 0
guest_delivery_resume:
  .quad 0
  .section .note.GNU-stack, "", @progbits
