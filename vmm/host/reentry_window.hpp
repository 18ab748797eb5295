// The exit stub's re-entry window (vmx/entry/vm_entry_exit.S): from its last test of
// Vcpu::pending to the VMRESUME. Work armed inside the window would otherwise wait for the
// guest's next VM exit, which may never come (a guest halted with interrupts off, an AP
// spinning on memory): an NMI for the guest set aside by the host's NMI handler, or another
// CPU's INIT/STARTUP whose wake-up NMI arrived after the test.
//
// Work that must not wait is armed either by this CPU's own code before the test or by an NMI
// (the guest's NMI, or the wake-up kick that follows every post to the mailbox); the write
// monitor's flush hint (pending::monitor_flush), set by other CPUs without an NMI, may wait for
// the next exit, as it always could (vmm/pending_work.hpp). So the host's NMI handler closes
// the window: an NMI that interrupts the stub anywhere in it
// returns to the window's start, which tests the word again. The window holds only the
// test and the register loads (no stack use, RSP = HOST_RSP throughout), so running it again
// is harmless: the guest's registers are reloaded from the vCPU, which nothing there writes.
// (Linux's "restartable" entry sequences and NOVA's return-to-user check work the same way.)
#pragma once
#include <stdint.h>

namespace vmm {

// Where an NMI that interrupted the host at `rip` returns to: the window's start when `rip`
// lies in [window_start, vmresume] (VMRESUME not yet executed), else `rip` itself.
constexpr uint64_t reentry_resume_rip(uint64_t rip, uint64_t window_start, uint64_t vmresume) {
  return rip >= window_start && rip <= vmresume ? window_start : rip;
}

}  // namespace vmm
