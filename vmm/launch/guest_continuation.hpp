// Where a launched CPU's guest continues (vmx/entry/guest_continuation.h has the why): the
// frame of a call into the hypervisor image, recorded by the assembly shims below.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmx/entry/guest_continuation.h"

namespace vmm {

struct GuestContinuation {
  uint64_t rip, rsp, rflags;
  uint64_t rbx, rbp, rsi, rdi, r12, r13, r14, r15;
};
static_assert(offsetof(GuestContinuation, rip) == APEX_CONT_RIP && offsetof(GuestContinuation, rsp) == APEX_CONT_RSP &&
                  offsetof(GuestContinuation, rflags) == APEX_CONT_RFLAGS &&
                  offsetof(GuestContinuation, rbx) == APEX_CONT_RBX && offsetof(GuestContinuation, rbp) == APEX_CONT_RBP &&
                  offsetof(GuestContinuation, rsi) == APEX_CONT_RSI && offsetof(GuestContinuation, rdi) == APEX_CONT_RDI &&
                  offsetof(GuestContinuation, r12) == APEX_CONT_R12 && offsetof(GuestContinuation, r13) == APEX_CONT_R13 &&
                  offsetof(GuestContinuation, r14) == APEX_CONT_R14 && offsetof(GuestContinuation, r15) == APEX_CONT_R15 &&
                  sizeof(GuestContinuation) == APEX_CONT_SIZE,
              "vmx/entry/guest_continuation.h disagrees with GuestContinuation");

// What a CPU launched with a continuation returns to its caller, as the guest.
inline constexpr uint64_t kLaunchedAsGuest = 0x4c41554e43484544ull;  // "DEHCNUAL"

using CapturedFn = uint64_t (*)(void* arg, const GuestContinuation* c);

}  // namespace vmm

extern "C" {
// Calls fn(arg, c), c = this call's return (System V). Returns what fn returns, or
// kLaunchedAsGuest when the calling CPU was launched with c.
uint64_t apex_call_capturing(vmm::CapturedFn fn, void* arg);
// An MP services AP procedure (MS ABI): calls apex_ap_procedure(arg, c), c = the return to
// the firmware. The loader defines apex_ap_procedure (boot/mp.cpp).
void __attribute__((ms_abi)) apex_ap_call_capturing(void* arg);
uint64_t apex_ap_procedure(void* arg, const vmm::GuestContinuation* c);
// Launches the current VMCS resuming the guest at c with RAX = guest_rax; returns 1 or 2 on
// failure (VMfailInvalid, VMfailValid).
int apex_vmx_launch_to(const vmm::GuestContinuation* c, uint64_t guest_rax);
}
