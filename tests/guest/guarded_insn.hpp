// Executing instructions that are expected to fault, from a guest program: each probe runs
// one instruction under a private IDT; an exception resumes after the probe and reports
// its vector. Used by the self-tests to check that the hypervisor raises exactly the
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
