// What the MSR handler answered the guest's last MSR exit, and what the host's own access
// gave where it made one (vmm/handlers/msr_access.cpp records it; hypercall 9, msr_verdict,
// reports it). A guest cannot otherwise tell a pass-through from an emulation that made its
// answer up: an MSR Bochs answers with 0 reads 0 either way, and a #GP on silicon could be the
// host's or the handler's (issue P10). With this the guest checks that its answer is the
// host's (fault for fault, value for value) and that the policy row it expects decided.
#pragma once
#include <stdint.h>

#include "vmm/msr_policy.hpp"

namespace vmm {

enum class HostMsrAccess : uint8_t {
  not_made = 0,   // the policy answered without touching the hardware (emulate, gp, discard)
  completed = 1,  // the host's RDMSR/WRMSR ran without a fault
  faulted = 2,    // the host's RDMSR/WRMSR raised #GP (caught by its fixup)
};

struct MsrVerdict {
  uint64_t exits;        // MSR exits recorded on this vCPU (0: none yet)
  uint32_t msr;          // the index
  bool write;            // WRMSR (any form)
  uint8_t row;           // MsrRuleResult::row (0: no row, passed through)
  MsrAction action;      // the row's action for this direction
  HostMsrAccess host;    // the host's own access
  uint8_t guest_vector;  // what the guest got: 0 (none) or the injected vector
  uint64_t host_value;   // read: the host's value; write: the value it was asked to write
  uint64_t guest_value;  // read: the EDX:EAX handed back; write: the guest's EDX:EAX
};

// MsrVerdict::row of a read the exit path's RDMSR fast path answered (handlers/rdmsr_exit.hpp):
// it knows the action from its table but not the row, which the report looks up (msr_rule),
// so that the fast path stays a few stores.
inline constexpr uint8_t kMsrRowLookUp = 0xff;

// The record, as the MSR handler fills it (vmm/handlers/msr_access.cpp, rdmsr_exit.hpp):
// started with the policy's decision, given the host's access where one is made, finished
// with the guest's answer.
inline MsrVerdict& start_msr_verdict(MsrVerdict& v, uint32_t msr, bool write, uint8_t row, MsrAction action) {
  v = {v.exits + 1, msr, write, row, action, HostMsrAccess::not_made, 0, 0, 0};
  return v;
}
inline void record_host_msr_access(MsrVerdict& v, bool completed, uint64_t value) {
  v.host = completed ? HostMsrAccess::completed : HostMsrAccess::faulted;
  v.host_value = completed ? value : 0;
}
// `vector`: what the guest got (0 none, else the injected vector); `guest_value`: the value it
// read (none on a fault) or wrote.
inline void finish_msr_verdict(MsrVerdict& v, uint8_t vector, uint64_t guest_value) {
  v.guest_vector = vector;
  v.guest_value = vector && !v.write ? 0 : guest_value;
}

// Hypercall 9's RCX (vmm/hypercall.hpp).
inline uint64_t msr_verdict_info(const MsrVerdict& v) {
  const uint8_t row = v.row == kMsrRowLookUp ? static_cast<uint8_t>(msr_rule(v.msr).row) : v.row;
  return uint64_t{row} | (uint64_t{static_cast<uint8_t>(v.action)} << 8) | (uint64_t{v.write} << 16) |
         (uint64_t{static_cast<uint8_t>(v.host)} << 24) | (uint64_t{v.guest_vector} << 32);
}

}  // namespace vmm
