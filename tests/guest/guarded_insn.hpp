// Executing instructions that are expected to fault, from a guest program: each probe runs
// one instruction under a private IDT; an exception resumes after the probe and reports
// its vector (and guest_probe_error its error code). Used by the self-tests to check that the hypervisor raises exactly the
// exception real hardware would (#GP, #UD), and nothing crashes.
#pragma once
#include <stdint.h>

// Each returns kNoFault (-1) or the exception vector raised (guarded_insn.S).
extern "C" {
int guest_probe_xsetbv(uint32_t ecx, uint64_t value);
int guest_probe_rdmsr(uint32_t msr, uint64_t* value);
int guest_probe_wrmsr(uint32_t msr, uint64_t value);
int guest_probe_write_cr4(uint64_t value);
int guest_probe_vmxon(uint64_t region_pa);
// Registers in and out through the pointers; RSI and RDI come back in rdx[1] and rdx[2].
int guest_probe_vmcall(uint64_t* rax, uint64_t* rbx, uint64_t* rcx, uint64_t* rdx);
// Descriptor-table instructions with a memory operand at `address` / a selector operand.
// LGDT and LLDT restore the previous GDTR / LDTR afterwards; LTR restores nothing.
int guest_probe_sgdt(uint64_t address);
int guest_probe_lgdt(uint64_t address);
int guest_probe_lldt(uint16_t selector);
int guest_probe_ltr(uint16_t selector);
// CPUID with RFLAGS.TF set: the vector (1: #DB) and which instruction the trap followed
// (*where: 0 the CPUID, 1 the next one, 2 neither).
int guest_probe_cpuid_single_step(uint64_t* where);
// The instruction right after that probe's CPUID.
extern const char guest_probe_cpuid_tf_next[];
// Runs the one instruction at `target` with RAX = scratch under single-step; returns the
// vector that ended it (1: it ran) and in *rip the RIP that exception reported.
int guest_probe_fetch(uint64_t target, uint64_t scratch, uint64_t* rip);
// Error code of the last exception a probe caught (0 for vectors without one).
extern uint64_t guest_probe_error;
// RFLAGS pushed by that exception (a fault pushes RF=1: SDM Vol 3A 18.3.1.1).
extern uint64_t guest_probe_rflags;
}

namespace guest {

inline constexpr int kNoFault = -1;

// Builds the private IDT; call once before the first probe.
void probes_prepare();

// A hypercall that must not fault: returns RAX and fills rbx/rcx/rdx with what came back.
struct HypercallResult {
  int fault;
  uint64_t rax, rbx, rcx, rdx, rsi, rdi;
};
HypercallResult hypercall(uint64_t number, uint64_t rbx = 0, uint64_t rcx = 0, uint64_t rdx = 0);

}  // namespace guest
