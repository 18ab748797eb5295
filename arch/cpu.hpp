// Thin wrappers over the privileged x86 instructions apexvisor needs. Header-only; only
// image code and explicitly hardware-touching tests may call the privileged ones.
#pragma once
#include <stdint.h>

#include "arch/msr.hpp"

namespace arch {

// The 10-byte operand of LGDT/LIDT/SGDT/SIDT in 64-bit mode (SDM Vol 3A 3.5.1, Figure 2-6).
struct __attribute__((packed)) PseudoDescriptor {
  uint16_t limit;
  uint64_t base;
};
static_assert(sizeof(PseudoDescriptor) == 10);

struct CpuidRegs {
  uint32_t eax, ebx, ecx, edx;
};

inline CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  CpuidRegs r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}

inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline uint64_t rdmsr(Msr msr) { return rdmsr(static_cast<uint32_t>(msr)); }

inline void wrmsr(uint32_t msr, uint64_t v) {
  asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<uint32_t>(v)), "d"(static_cast<uint32_t>(v >> 32)) : "memory");
}
inline void wrmsr(Msr msr, uint64_t v) { wrmsr(static_cast<uint32_t>(msr), v); }

#define APEX_CR_ACCESSORS(n)                                              \
  inline uint64_t read_cr##n() {                                          \
    uint64_t v;                                                           \
    asm volatile("mov %%cr" #n ", %0" : "=r"(v));                         \
    return v;                                                             \
  }                                                                       \
  inline void write_cr##n(uint64_t v) { asm volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
APEX_CR_ACCESSORS(0)
APEX_CR_ACCESSORS(3)
APEX_CR_ACCESSORS(4)
#undef APEX_CR_ACCESSORS

inline uint64_t read_cr2() {
  uint64_t v;
  asm volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

inline uint64_t read_dr7() {
  uint64_t v;
  asm volatile("mov %%dr7, %0" : "=r"(v));
  return v;
}

inline uint64_t xgetbv(uint32_t index) {
  uint32_t lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

inline void xsetbv(uint32_t index, uint64_t v) {
  asm volatile("xsetbv" ::"c"(index), "a"(static_cast<uint32_t>(v)), "d"(static_cast<uint32_t>(v >> 32)) : "memory");
}

inline uint64_t read_rflags() {
  uint64_t v;
  asm volatile("pushfq; popq %0" : "=r"(v));
  return v;
}
inline void write_rflags(uint64_t v) { asm volatile("pushq %0; popfq" ::"r"(v) : "memory", "cc"); }

// Writes back and invalidates the caches (also where the guest asked for INVD: the host's
// dirty lines must not be discarded).
inline void wbinvd() { asm volatile("wbinvd" ::: "memory"); }

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
  uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }

inline void cpu_pause() { asm volatile("pause"); }
inline void cpu_halt() { asm volatile("hlt"); }
inline void cli() { asm volatile("cli" ::: "memory"); }

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Bochs' magic breakpoint: with `magic_break: enabled=1` the debugger stops here (and our
// runner's debugger script quits). Harmless on every other CPU.
inline void bochs_magic_break() { asm volatile("xchgw %%bx, %%bx" ::: "memory"); }

}  // namespace arch
