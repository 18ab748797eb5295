// Probes for guarded_insn.hpp. Each probe: load the private IDT, execute one instruction
// at a *_insn label, restore the IDT. The exception stubs look the faulting RIP up in
// guest_fixups and resume at the matching *_fixup label with RAX = vector.

  .text
.macro PROBE_ENTER
  pushfq
  cli                                 // our IDT has only the 32 exception vectors
  sub $16, %rsp
  sidt (%rsp)                         // the firmware's IDT, restored on the way out
  lidt guest_probe_idtr(%rip)
.endm
.macro PROBE_LEAVE
  lidt (%rsp)
  add $16, %rsp
  popfq
  ret
.endm

// int probe_xsetbv(uint32_t ecx, uint64_t value)
  .globl guest_probe_xsetbv
guest_probe_xsetbv:
  PROBE_ENTER
  mov %edi, %ecx
  mov %rsi, %rax
  mov %rsi, %rdx
  shr $32, %rdx
xsetbv_insn:
  xsetbv
  mov $-1, %eax
xsetbv_fixup:
  PROBE_LEAVE

// int probe_rdmsr(uint32_t msr, uint64_t* value)
  .globl guest_probe_rdmsr
guest_probe_rdmsr:
  PROBE_ENTER
  mov %edi, %ecx
rdmsr_insn:
  rdmsr
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, (%rsi)
  mov $-1, %eax
rdmsr_fixup:
  PROBE_LEAVE

// int probe_wrmsr(uint32_t msr, uint64_t value)
  .globl guest_probe_wrmsr
guest_probe_wrmsr:
  PROBE_ENTER
  mov %edi, %ecx
  mov %rsi, %rax
  mov %rsi, %rdx
  shr $32, %rdx
wrmsr_insn:
  wrmsr
  mov $-1, %eax
wrmsr_fixup:
  PROBE_LEAVE

// int probe_write_cr4(uint64_t value)
  .globl guest_probe_write_cr4
guest_probe_write_cr4:
  PROBE_ENTER
cr4_insn:
  mov %rdi, %cr4
  mov $-1, %eax
cr4_fixup:
  PROBE_LEAVE

// int probe_vmxon(uint64_t region_pa)
  .globl guest_probe_vmxon
guest_probe_vmxon:
  PROBE_ENTER
  push %rdi
vmxon_insn:
  vmxon (%rsp)
  mov $-1, %eax
vmxon_fixup:
  add $8, %rsp
  PROBE_LEAVE

// int probe_vmcall(uint64_t* rax, uint64_t* rbx, uint64_t* rcx, uint64_t* rdx)
// In/out registers through the pointers; RSI/RDI come back in the two words after *rdx.
  .globl guest_probe_vmcall
guest_probe_vmcall:
  push %rbx
  push %r12
  push %r13
  push %r14
  push %r15
  mov %rdi, %r12
  mov %rsi, %r13
  mov %rdx, %r14
  mov %rcx, %r15
  PROBE_ENTER
  mov (%r12), %rax
  mov (%r13), %rbx
  mov (%r14), %rcx
  mov (%r15), %rdx
  xor %esi, %esi
  xor %edi, %edi
vmcall_insn:
  vmcall
  mov %rax, (%r12)
  mov %rbx, (%r13)
  mov %rcx, (%r14)
  mov %rdx, (%r15)
  mov %rsi, 8(%r15)
  mov %rdi, 16(%r15)
  mov $-1, %eax
vmcall_fixup:
  lidt (%rsp)
  add $16, %rsp
  popfq
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbx
  ret

// ---- descriptor-table probes (run_descriptor_table_checks) --------------------------------

// int probe_sgdt(uint64_t address)
  .globl guest_probe_sgdt
guest_probe_sgdt:
  PROBE_ENTER
sgdt_insn:
  sgdt (%rdi)
  mov $-1, %eax
sgdt_fixup:
  PROBE_LEAVE

// int probe_lgdt(uint64_t address): the GDTR is saved before and restored after, either way,
// so that a value that should have faulted does not stay loaded.
  .globl guest_probe_lgdt
guest_probe_lgdt:
  PROBE_ENTER
  sub $16, %rsp
  sgdt (%rsp)
lgdt_insn:
  lgdt (%rdi)
  mov $-1, %eax
lgdt_fixup:
  lgdt (%rsp)
  add $16, %rsp
  PROBE_LEAVE

// int probe_lldt(uint16_t selector): LDTR is restored afterwards either way.
  .globl guest_probe_lldt
guest_probe_lldt:
  PROBE_ENTER
  sldt %r8d
lldt_insn:
  lldt %di
  mov $-1, %eax
lldt_fixup:
  lldt %r8w
  PROBE_LEAVE

// int probe_ltr(uint16_t selector): for selectors that must fault (nothing restores TR).
  .globl guest_probe_ltr
guest_probe_ltr:
  PROBE_ENTER
ltr_insn:
  ltr %di
  mov $-1, %eax
ltr_fixup:
  PROBE_LEAVE

// int probe_cpuid_single_step(uint64_t* where): CPUID with RFLAGS.TF=1 (set by POPF, so the
// single-step trap follows the CPUID). Returns the vector (1 for #DB, -1 for none) and in
// *where the instruction the trap followed: 0 the CPUID, as on hardware; 1 the instruction
// after it (the trap came one instruction late: a hypervisor that skipped CPUID without
// pending the single-step); 2 none of these.
  .globl guest_probe_cpuid_single_step
guest_probe_cpuid_single_step:
  PROBE_ENTER
  push %rbx
  mov %rdi, %r8
  movq $2, (%r8)
  xor %eax, %eax
  xor %ecx, %ecx
  pushfq
  orq $0x100, (%rsp)
  popfq
  cpuid
  .globl guest_probe_cpuid_tf_next
guest_probe_cpuid_tf_next:  // the RIP the single-step trap is pended for (hypercall single_step)
tf_after_cpuid:
  movq $1, (%r8)
tf_after_late:
  mov $-1, %eax
  pushfq
  andq $~0x100, (%rsp)
  popfq
  jmp tf_fixup
tf_on_time:
  movq $0, (%r8)
tf_fixup:
  pop %rbx
  PROBE_LEAVE


// int probe_fetch(uint64_t target, uint64_t scratch, uint64_t* rip): runs exactly one
// instruction at `target` with RAX = scratch and returns the vector that ended it (1: the
// single-step trap after it) and in *rip the RIP that trap reported. For the zero page the
// hypervisor maps over its memory: 00 00 is ADD [RAX],AL, so the byte at `scratch` grows by
// its address's low byte and *rip = target + 2. POPF sets TF, so the first trap follows the
// JMP (RIP = target, nothing run yet): the handler lets that one go on, with RAX restored.
  .globl guest_probe_fetch
guest_probe_fetch:
  PROBE_ENTER
  mov %rdx, %r8
  mov %rdi, guest_probe_fetch_at(%rip)
  mov %rsi, guest_probe_fetch_rax(%rip)
  lea fetch_fixup(%rip), %rax
  mov %rax, guest_probe_any_resume(%rip)
  mov %rsi, %rax
  pushfq
  orq $0x100, (%rsp)
  popfq
  jmp *%rdi
fetch_fixup:
  mov guest_probe_rip(%rip), %rdx
  mov %rdx, (%r8)
  PROBE_LEAVE

// ---- exception entry: vector in a register, then look the RIP up ---------------------------
.macro GUEST_EXC v
  .p2align 4
guest_exc_\v:
  .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
  pop %rdx                            // the error code: the frame is then uniform
  .else
  xor %edx, %edx
  .endif
  mov %rdx, guest_probe_error(%rip)   // guarded_insn.hpp: guest_probe_error
  mov $\v, %eax
  jmp guest_exc_common
.endm
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  GUEST_EXC \v
  .endr

guest_exc_common:
  mov 16(%rsp), %rdx                  // the RFLAGS the exception pushed (RF included)
  mov %rdx, guest_probe_rflags(%rip)
  // (%rsp) = faulting RIP. Find it; resume at its fixup with EAX = vector.
  lea guest_fixups(%rip), %rcx
1:
  mov (%rcx), %rdx
  test %rdx, %rdx
  jz 2f
  cmp (%rsp), %rdx
  je 3f
  add $16, %rcx
  jmp 1b
2:
  // Not one of ours: a fetch probe's (guest_probe_fetch) trap before its instruction goes on,
  // anything else under it resumes at its fixup; without a fetch probe, stop here, visibly.
  mov guest_probe_any_resume(%rip), %rdx
  test %rdx, %rdx
  jz 5f
  mov (%rsp), %rcx
  cmp $1, %eax
  jne 4f
  cmp guest_probe_fetch_at(%rip), %rcx
  jne 4f
  mov guest_probe_fetch_rax(%rip), %rax
  iretq
4:
  mov %rcx, guest_probe_rip(%rip)
  movq $0, guest_probe_any_resume(%rip)
  mov %rdx, (%rsp)
  andq $~0x100, 16(%rsp)
  iretq
5:
  cli
  hlt
  jmp 5b
3:
  mov 8(%rcx), %rdx
  mov %rdx, (%rsp)
  andq $~0x100, 16(%rsp)              // RFLAGS.TF off: a single-step probe ends at its fixup
  iretq

  .section .data
  .p2align 4
  .globl guest_probe_idt
guest_probe_idt:
  .fill 32 * 16, 1, 0                 // filled at start-up by guarded_insn.cpp
guest_probe_idtr:
  .word 32 * 16 - 1
  .quad 0                             // base, filled at start-up
  .p2align 3
  .globl guest_exc_stubs
guest_exc_stubs:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad guest_exc_\v
  .endr
guest_fixups:
  .quad xsetbv_insn, xsetbv_fixup
  .quad rdmsr_insn, rdmsr_fixup
  .quad wrmsr_insn, wrmsr_fixup
  .quad cr4_insn, cr4_fixup
  .quad vmxon_insn, vmxon_fixup
  .quad vmcall_insn, vmcall_fixup
  .quad sgdt_insn, sgdt_fixup
  .quad lgdt_insn, lgdt_fixup
  .quad lldt_insn, lldt_fixup
  .quad ltr_insn, ltr_fixup
  .quad tf_after_cpuid, tf_on_time    // traps: the frame's RIP is the next instruction's
  .quad tf_after_late, tf_fixup
  .quad 0, 0
  .globl guest_probe_error
guest_probe_error:
  .quad 0                             // error code of the last exception a probe caught (0: none)
  .globl guest_probe_rflags
guest_probe_rflags:
  .quad 0                             // RFLAGS that exception pushed
guest_probe_any_resume:
  .quad 0                             // guest_probe_fetch: where any exception resumes (0: none)
guest_probe_fetch_at:
  .quad 0                             // its target: the trap before the instruction goes on
guest_probe_fetch_rax:
  .quad 0                             // RAX for that instruction
guest_probe_rip:
  .quad 0                             // RIP of the exception that ended the probe
  .globl guest_probe_idtr
  .section .note.GNU-stack, "", @progbits
