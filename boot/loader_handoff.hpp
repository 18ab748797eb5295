// The loader runs in two images (design.md "Nothing that runs as a guest writes hypervisor
// memory"):
//   - the hypervisor image: the runtime copy (boot/runtime_copy.hpp). It reads the
//     configuration, probes and virtualizes every CPU, and holds everything the hypervisor
//     keeps: code, data, log ring. Once the CPUs are launched the EPT hides it; no guest
//     instruction ever runs there (each CPU's guest continues outside it:
//     vmm/launch/guest_continuation.hpp).
//   - the firmware's image: where the firmware loaded apexvisor.efi, guest memory. It calls
//     into the copy, and when that call returns (as the guest, or without a hypervisor) it
//     prints the summary and starts the next boot stage, with its own globals.
// LoaderHandoff is what the first tells the second, in guest memory (the firmware image's
// stack frame), written before the bootstrap processor is launched.
#pragma once
#include <stdint.h>

#include "boot/config.hpp"

namespace boot {

enum : uint8_t { kNotLaunched, kLaunching, kLaunchFailed };

struct LoaderHandoff {
  Config cfg;               // as read from the ESP (defaults when there is none)
  unsigned cpus = 0;        // processors found
  unsigned vmx_ok = 0;      // of which VMXON worked
  unsigned virtualized = 0; // of which run as guests of apexvisor (counted by the firmware image)
  bool hypervisor_image = false;  // the runtime copy was made (else nothing is virtualized)
  bool vpid = false;        // each guest CPU has its VPID (index + 1)
  // Per CPU index (boot-services pool, guest memory): kNotLaunched, kLaunching (written just
  // before its VMLAUNCH: a guest from then on) or kLaunchFailed, written by that CPU. Final
  // when the BSP is launched (every AP is done by then). nullptr when none could be allocated.
  uint8_t* outcome = nullptr;
};

}  // namespace boot
