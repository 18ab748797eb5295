// The host NMI handler's rule for the exit stub's re-entry window (vmm/host/reentry_window.hpp):
// an NMI from the window's first instruction up to the VMRESUME itself returns to the start,
// so that the pending-work test runs again; anywhere else it returns where it interrupted.
#include <catch.hpp>

#include "vmm/host/reentry_window.hpp"

TEST_CASE("an NMI inside the re-entry window returns to its start") {
  constexpr uint64_t start = 0x1000, vmresume = 0x10a0;
  CHECK(vmm::reentry_resume_rip(start, start, vmresume) == start);          // before the test
  CHECK(vmm::reentry_resume_rip(start + 7, start, vmresume) == start);      // after it
  CHECK(vmm::reentry_resume_rip(vmresume - 3, start, vmresume) == start);   // registers loaded
  CHECK(vmm::reentry_resume_rip(vmresume, start, vmresume) == start);       // VMRESUME not yet run
}

TEST_CASE("an NMI outside the re-entry window returns where it interrupted") {
  constexpr uint64_t start = 0x1000, vmresume = 0x10a0;
  CHECK(vmm::reentry_resume_rip(start - 1, start, vmresume) == start - 1);  // the handler's call
  CHECK(vmm::reentry_resume_rip(vmresume + 3, start, vmresume) == vmresume + 3);  // VMRESUME failed
  CHECK(vmm::reentry_resume_rip(0, start, vmresume) == 0);
  CHECK(vmm::reentry_resume_rip(~0ull, start, vmresume) == ~0ull);
}
