// apexvisor runs from a copy of itself in EfiRuntimeServicesCode memory.
//
// Why: the firmware loads a UEFI application into EfiLoaderCode memory, which the OS takes
// back after ExitBootServices. The exit handlers, their tables and the log must outlive
// that, so the loader copies its whole image into runtime memory (which the OS never
// reuses), re-applies gnu-efi's ELF relocations for the new address, and continues there.
#pragma once
#include "boot/efi/efi.hpp"

namespace boot {

using ImageMain = EFI_STATUS (*)(EFI_HANDLE image, EFI_SYSTEM_TABLE* st);

// Copies the running image to runtime memory and calls the copy's `main` (an address inside
// this image); returns what it returns. If the copy cannot be made, calls `main` in place
// and says why: the machine must boot regardless.
EFI_STATUS run_from_runtime_copy(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, ImageMain main);

// Where the running image lives (after the copy: the copy).
uint64_t image_base();
uint64_t image_size();
// nullptr when running from the runtime copy, else why not.
const char* runtime_copy_failure();

}  // namespace boot
