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

// Hypercall 9's RCX (vmm/hypercall.hpp).
inline uint64_t msr_verdict_info(const MsrVerdict& v) {
  return uint64_t{v.row} | (uint64_t{static_cast<uint8_t>(v.action)} << 8) | (uint64_t{v.write} << 16) |
         (uint64_t{static_cast<uint8_t>(v.host)} << 24) | (uint64_t{v.guest_vector} << 32);
}

}  // namespace vmm
