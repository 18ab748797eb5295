// The simplest next boot stage: proves apexvisor handed the machine on, then ends the run.
#include "tests/guest/guest_runtime.hpp"

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  guest::say("hello from the next boot stage");
  guest::end_run(0);
}
