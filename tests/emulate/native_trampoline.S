// native_run(NativeState* state, const void* code): loads RAX..R15 (not RSP) and RFLAGS from
// *state, calls `code` (the instruction under test followed by RET), and stores the registers
// and RFLAGS back. For tests/emulate/native_diff.cpp only (x86-64 System V, Linux).
//
// struct NativeState { uint64_t gpr[16]; uint64_t rflags; }   gpr[n] at 8*n, rflags at 128.

        .text
        .globl  native_run
        .type   native_run, @function
native_run:
        push    %rbx
        push    %rbp
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rdi, native_state(%rip)
        mov     %rsi, native_code(%rip)
        pushq   128(%rdi)               // RFLAGS first: the MOVs below do not change flags
        popfq
        mov     0(%rdi), %rax
        mov     8(%rdi), %rcx
        mov     16(%rdi), %rdx
        mov     24(%rdi), %rbx
        mov     40(%rdi), %rbp
        mov     48(%rdi), %rsi
        mov     64(%rdi), %r8
        mov     72(%rdi), %r9
        mov     80(%rdi), %r10
        mov     88(%rdi), %r11
        mov     96(%rdi), %r12
        mov     104(%rdi), %r13
        mov     112(%rdi), %r14
        mov     120(%rdi), %r15
        mov     56(%rdi), %rdi          // RDI last: it held the state pointer
        call    *native_code(%rip)
        pushfq                          // RFLAGS before anything can change them
        push    %rdi
        mov     native_state(%rip), %rdi
        popq    56(%rdi)
        popq    128(%rdi)
        mov     %rax, 0(%rdi)
        mov     %rcx, 8(%rdi)
        mov     %rdx, 16(%rdi)
        mov     %rbx, 24(%rdi)
        mov     %rbp, 40(%rdi)
        mov     %rsi, 48(%rdi)
        mov     %r8, 64(%rdi)
        mov     %r9, 72(%rdi)
        mov     %r10, 80(%rdi)
        mov     %r11, 88(%rdi)
        mov     %r12, 96(%rdi)
        mov     %r13, 104(%rdi)
        mov     %r14, 112(%rdi)
        mov     %r15, 120(%rdi)
        cld                             // the ABI wants DF=0 back in C++
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbp
        pop     %rbx
        ret
        .size   native_run, .-native_run

        .bss
        .balign 8
native_state:   .quad 0
native_code:    .quad 0

        .section .note.GNU-stack,"",@progbits
