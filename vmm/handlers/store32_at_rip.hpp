// The fast paths for device-register accesses that exit, about a tenth of the cost of
// emulate_at_rip(), whose general decoder dominates. First, EPT-violation writes made by
// `MOV m32, r32` or `MOV m32, imm32` (the forms Linux and OVMF write local-APIC registers
// with, decode/mov_store32.hpp).
//
// The hardware has already done everything but the store when the exit happens: the
// segmentation and paging checks of the access passed (only the EPT refused it), and the
// exit reports the guest-physical address. So the fast path only fetches the instruction
// bytes at CS:RIP through the guest's paging (decode::emulate::CodeFetch, the fetch of the
// general path), recognises the store, writes the value to `phys` at that address, and ends
// the instruction the way every emulated instruction ends (complete_instruction: RIP past
// the decoded length, never the VM-exit instruction length, which EPT violations leave
// undefined; RF cleared; then finish_emulation: the write-back of RIP/RFLAGS/RSP).
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm {

// `gpa` is the exit's guest-physical address. Carries out the store and returns true with
// `*action` set; or returns false having changed nothing (no guest write, no VMWRITE) when
// the exit is not a 4-byte-aligned write to the translated address itself, the guest is in
// real/virtual-8086 or 16-bit mode, the fetch faults or the bytes are anything else
// (mov_store32.hpp): the caller then runs the general path (emulate_at_rip) unchanged.
bool store32_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, uint64_t gpa, ExitAction* action);

// The same for a read of a device register that exits as it happens — an APIC-access exit
// for a local-APIC register the CPU's APIC virtualization does not answer (PPR, the timer's
// current count; vmm/apic/virtual_apic.hpp): `MOV r32, m32` (decode::match_mov_load32) reads
// `phys` at `gpa` (4-byte aligned, from the exit) into the destination register and ends
// the instruction the same way. The caller knows the exit was a data read at `gpa`; false,
// with nothing changed, for anything else (the caller then runs emulate_at_rip).
bool load32_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, uint64_t gpa, ExitAction* action);

}  // namespace vmm
