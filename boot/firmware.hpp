// The firmware handles the loader was started with, and small helpers over boot services.
// Only the BSP may call these, and only before ExitBootServices.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "boot/efi/efi.hpp"

namespace boot {

struct Firmware {
  EFI_HANDLE image = nullptr;
  EFI_SYSTEM_TABLE* st = nullptr;
  EFI_BOOT_SERVICES* bs = nullptr;
  EFI_RUNTIME_SERVICES* rt = nullptr;
};

Firmware& firmware();

// Pages of EfiRuntimeServicesData: the OS never reuses them, so hypervisor state allocated
// here survives ExitBootServices (design.md "The path of one boot"). Zeroed, page-aligned,
// taken from the firmware in 256 KiB chunks. nullptr on failure. Boot services only.
void* alloc_runtime_pages(size_t pages);
// Takes `pages` from the firmware now, in one call, for the alloc_runtime_pages calls that
// follow (each AllocatePages call costs OVMF about 270,000 instructions, whatever its size:
// one call sized for the machine, instead of a chunk whenever one runs out, keeps the loader's
// cost from growing with the CPU count). Nothing happens when it fails or when the current
// chunk already holds as much.
void reserve_runtime_pages(size_t pages);
// Gives the last reservation back to the firmware, whole, when nothing will be virtualized
// (no VMX, a CPU disabled: the OS would otherwise lose it for good). Every page handed out of
// it must be unused from then on. False when there is none or FreePages fails.
bool release_runtime_reservation();
// What was taken from the firmware (whole chunks, their unused tails included).
uint64_t runtime_bytes_allocated();
// How many AllocatePages calls that took (the `memory:` line at debug).
unsigned runtime_allocation_calls();
// How many pages alloc_runtime_pages handed out.
uint64_t runtime_pages_used();

// Every range of hypervisor memory: what alloc_runtime_pages handed out and the ranges
// recorded with record_hypervisor_memory (the image's runtime copy), for hiding them from
// the guest's EPT view. `complete` is false when a range could not be recorded (the table is
// full): then not all of it could be hidden, and nothing may be virtualized.
struct MemoryRange {
  uint64_t base;
  uint64_t size;
};
size_t runtime_allocations(const MemoryRange** ranges, bool* complete = nullptr);
void record_hypervisor_memory(uint64_t base, uint64_t size);

// The end of the highest range in the firmware's memory map (RAM and MMIO it describes).
uint64_t memory_map_top();

// Boot-services pool memory for short-lived buffers (files, variables).
void* alloc_pool(size_t bytes);
void free_pool(void* p);

// Reads a UEFI variable into a new pool buffer; nullptr if absent.
void* read_variable(const char16_t* name, EFI_GUID* vendor, size_t* size);

}  // namespace boot
