// The host environment of one CPU in VMX root (design.md "vmm/"): its own GDT, a TSS whose
// IST stacks take NMI, #DF and #MC, an IDT whose handlers print a diagnostic and halt this
// CPU, and the stack the exit handler runs on. All of it in runtime memory: nothing of the
// host may point into firmware structures, which the OS reclaims.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm {

struct Vcpu;

struct __attribute__((packed)) Tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
};
static_assert(sizeof(Tss64) == 104, "SDM Vol 3A 8.7: 64-bit TSS is 104 bytes");

struct IdtGate {
  uint16_t offset0;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset1;
  uint32_t offset2;
  uint32_t reserved;
};
static_assert(sizeof(IdtGate) == 16, "SDM Vol 3A 7.14.1: 64-bit IDT gate is 16 bytes");

namespace host_sel {
inline constexpr uint16_t code = 0x08, data = 0x10, tss = 0x18;
}

struct alignas(4096) HostCpu {
  static constexpr size_t kStackSize = 32 * 1024;
  static constexpr size_t kIstSize = 8 * 1024;
  static constexpr unsigned kVectors = 32;  // exceptions only: IF stays 0 in VMX root

  uint64_t gdt[6];
  Tss64 tss;
  IdtGate idt[kVectors];
  Vcpu* vcpu;
  unsigned index;
  // Room for this CPU's ExitContext (Vcpu::exit_context), built in place by the launch.
  alignas(ExitContext) unsigned char exit_context[sizeof(ExitContext)];
  alignas(16) uint8_t ist_nmi[kIstSize];
  alignas(16) uint8_t ist_df[kIstSize];
  alignas(16) uint8_t ist_mc[kIstSize];
  alignas(16) uint8_t stack[kStackSize];

  // The exit stub finds its Vcpu at [RSP] on VM exit: HOST_RSP points at this slot.
  uint64_t host_rsp() const { return reinterpret_cast<uint64_t>(stack + kStackSize - 16); }
};

// Fills the GDT, TSS and IDT of `cpu` (zeroed memory) and records its Vcpu at the top of
// its stack.
void host_cpu_init(HostCpu* cpu, unsigned index, Vcpu* vcpu);

// Host page tables: an identity map of [0, limit) with the largest pages the CPU has. The
// tables come from `alloc_page` (zeroed, 4 KiB, identity-mapped). Returns the CR3 value, 0
// on failure.
uint64_t build_host_page_tables(uint64_t limit, void* (*alloc_page)(void* ctx), void* ctx);

}  // namespace vmm
