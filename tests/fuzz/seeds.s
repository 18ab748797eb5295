# Seed instructions for the decoder fuzzer (tests/fuzz/make_corpus.py assembles them with
# llvm-mc-19 where it is installed). Intel syntax; .code64/.code32/.code16 set the CPU mode the
# seed's selector byte gives the harness. One instruction per line: each becomes one seed.
.code64
mov qword ptr [rax + 8*rcx + 16], r9
mov r9d, dword ptr [rip + 4096]
mov byte ptr [rsp + 1], 0x7f
mov ah, byte ptr [rbx]
movzx eax, word ptr [rdi + 2*rsi]
movsxd rax, dword ptr [r13]
lock add qword ptr [rax + 8*rcx + 16], r9
lock cmpxchg16b xmmword ptr [r8]
lock xadd dword ptr [rdx], ecx
lock bts qword ptr [rax], 63
xchg qword ptr [rbp - 8], rax
rep movsb byte ptr es:[rdi], byte ptr [rsi]
rep stosq qword ptr es:[rdi], rax
repne scasb al, byte ptr es:[rdi]
add word ptr fs:[eax + 4*ebx + 0x12345678], 0x1234
imul r11, qword ptr [r12 + 0x80], -3
test byte ptr [rcx], 0x80
shl qword ptr [rax], cl
cmovne r8, qword ptr [r9 + r10]
sete byte ptr [rsp]
bt dword ptr [rax], edx
jmp qword ptr [rip + 0x10]
call qword ptr [rax + 8]
mov cr3, rax
mov rax, dr7
mov es, word ptr [rax]
push qword ptr [rax]
pop r15
nop word ptr cs:[rax + rax + 0]
cpuid
rdmsr
xsetbv
vmcall
movaps xmm1, xmmword ptr [rax]
pshufb xmm0, xmmword ptr [rdx + 16]
vaddps ymm1, ymm2, ymmword ptr [rax + 32]
vpxor xmm15, xmm14, xmm13
vpermq ymm0, ymm1, 0x1b
vaddps zmm1 {k1} {z}, zmm2, zmmword ptr [rax + 4*rbx + 0x40]
vpgatherdd zmm0 {k1}, zmmword ptr [rax + 4*zmm1]
vmovdqu64 zmmword ptr [r8] {k2}, zmm30
kmovq k1, k2
add r16, r17
mov qword ptr [r16 + 8*r17 + 8], r31
mov r20b, byte ptr [r21 + 1]
lea r28d, [r29 + 4*r30]
push r16
pop r31
pushp rax
popp r16
jmpabs 0x1122334455667788
lock add qword ptr [r16 + 8*r24], r25
imul r20, r21
popcnt r16d, r17d
movbe r18, qword ptr [r19]
add r18, r16, qword ptr [r17 + 123]
{nf} add r16, r17
{nf} add r8, r9, 10
sub r24d, r25d, r26d
ccmpne {dfv=of,cf} rax, rbx
ctestb {dfv=zf} r16, 7
cfcmove r16, r17
push2 rax, rdi
pop2p r16, r17
setzuo r16b
andn r30, r29, r28
bzhi r16, qword ptr [r17], r18
kmovq r16, k1
cmpbexadd qword ptr [r16], r17, r18
invept r16, xmmword ptr [r17]
shrx r31, r30, r29
.code32
mov eax, dword ptr [ebx + 4*ecx + 8]
mov dword ptr fs:[0x30], esi
lock inc dword ptr [eax]
inc eax
dec ecx
aaa
aad 10
push es
pop ds
lds eax, fword ptr [ebx]
lcall 0x10, 0x12345678
bound eax, dword ptr [ecx]
arpl word ptr [eax], cx
vaddps xmm1, xmm2, xmm3
vaddps zmm1 {k1}, zmm2, zmm3
.code16
mov ax, word ptr [bx + si + 4]
mov word ptr [bp], 0x1234
mov eax, dword ptr [eax + 4*ebx]
add byte ptr [di], al
movsw word ptr es:[di], word ptr [si]
lgdt [bx]
int 0x10
ljmp 0xf000, 0xfff0
