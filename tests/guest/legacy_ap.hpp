// What the guest programs that run an AP in the legacy modes share (realworld.cpp,
// attack_tables.cpp): building 32-bit descriptors for the AP's own GDT, LDT and IDT, starting
// the AP at its own real-mode code with INIT-SIPI-SIPI, and the triple-fault check (the AP
// enters the shutdown state and the next INIT-SIPI-SIPI starts it again).
#pragma once

#include <stdint.h>

#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/guest_runtime.hpp"

namespace guest {

// A GDT or LDT segment descriptor (SDM Vol 3A 3.4.5): `access` is P|DPL|S|type, `flags` G|D/B|L|AVL.
constexpr uint64_t segment(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  return (limit & 0xffffull) | (uint64_t{base & 0xffffff} << 16) | (uint64_t{access} << 40) |
         (uint64_t{(limit >> 16) & 0xf} << 48) | (uint64_t{flags & 0xfu} << 52) | (uint64_t{base >> 24} << 56);
}
// A task gate (Vol 3A 8.2.5), in the GDT or the IDT: P, DPL 0, type 5, the TSS selector.
constexpr uint64_t task_gate(uint16_t tss) { return (uint64_t{tss} << 16) | (0x85ull << 40); }
// A 32-bit interrupt gate (Vol 3A 6.11): P, DPL 0, type 0xE.
constexpr uint64_t interrupt_gate(uint16_t cs, uint32_t offset) {
  return (offset & 0xffffull) | (uint64_t{cs} << 16) | (0x8eull << 40) | (uint64_t{offset >> 16} << 48);
}
constexpr uint8_t kCode = 0x9a, kData = 0x92, kTss32 = 0x89, kLdt = 0x82;  // present, DPL 0
constexpr uint8_t kFlags32 = 0xc;                                          // G=1, D/B=1
constexpr uint8_t kFlags32L = 0xe;                                         // G=1, D/B=1, L=1

// Writes a pseudo-descriptor at `at`: u16 limit, then a 32-bit base (what LGDT/LIDT with a
// 32-bit operand read).
inline void pseudo_descriptor(uint64_t at, uint16_t limit, uint32_t table) {
  auto* p = reinterpret_cast<volatile uint16_t*>(at);
  p[0] = limit;
  p[1] = static_cast<uint16_t>(table);
  p[2] = static_cast<uint16_t>(table >> 16);
}

constexpr uint64_t kTripleFaultExit = 2;  // basic exit reason (hypercall exit_counter)

// INIT-SIPI-SIPI, as an OS starts an AP (also ap_restart_checks.cpp's rounds): the AP begins
// in real mode at CS = vector << 8, IP 0.
void start_ap(EFI_BOOT_SERVICES* bs, const LocalApic& apic, uint32_t apic_id, uint32_t vector);

// After setting the AP's go flag (the AP then raises the exception that shuts it down): waits
// up to 2 s for a triple-fault exit on apexvisor's CPU `ap`, then 20 ms more for anything that
// would follow it, and returns the triple-fault exits counted since `before`. The caller prints
// nothing meanwhile, so that apexvisor's line about the shutdown stays whole on the UART.
uint64_t await_triple_fault(EFI_BOOT_SERVICES* bs, volatile uint32_t& go, UINTN ap, uint64_t before);

// Sets the AP's restart flag (its code then only counts the start and halts) and starts it
// again; returns the starts it counted (1 on hardware: the shutdown state leaves on INIT).
uint32_t restart_after_shutdown(EFI_BOOT_SERVICES* bs, const LocalApic& apic, uint32_t apic_id, uint32_t vector,
                                volatile uint32_t& restart, const volatile uint32_t& restarted);

}  // namespace guest
