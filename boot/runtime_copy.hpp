// The hypervisor runs from a copy of the image in EfiRuntimeServicesCode memory.
//
// Why: the firmware loads a UEFI application into EfiLoaderCode memory, which the OS takes
// back after ExitBootServices. The exit handlers, their tables and the log must outlive
// that, so the loader copies its whole image into runtime memory (which the OS never
// reuses), re-applies gnu-efi's ELF relocations for the new address, and virtualizes from
// there. The copy is hypervisor memory, hidden from the guest; the firmware's image goes on
// as the guest's side of the loader (boot/loader_handoff.hpp).
#pragma once
#include "boot/efi/efi.hpp"
#include "vmm/launch/guest_continuation.hpp"

namespace boot {

// Copies the running image to runtime memory and calls the copy's `main` (an address inside
// this image) through apex_call_capturing: a CPU launched there with the continuation it is
// given returns from this call as the guest, with vmm::kLaunchedAsGuest. If the copy cannot
// be made, calls `main` in place and says why (runtime_copy_failure()): the machine must
// boot regardless.
uint64_t run_in_hypervisor_image(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, vmm::CapturedFn main, void* arg);

// Where the running image lives (after the copy: the copy).
uint64_t image_base();
uint64_t image_size();
// nullptr when running from the runtime copy, else why not.
const char* runtime_copy_failure();

}  // namespace boot
