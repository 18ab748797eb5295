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
  // (msr << 1) | 1 when the exit path's RDMSR fast path (handlers/rdmsr_exit.hpp) answered the
  // last MSR exit: it records only this, `exits` and `guest_value`, and the report rebuilds the
  // rest from the policy table (reported_msr_verdict), so that the fast path stays two stores.
  uint64_t fast_read;
};

// The record, as the MSR handler fills it (vmm/handlers/msr_access.cpp, rdmsr_exit.hpp):
// started with the policy's decision, given the host's access where one is made, finished
// with the guest's answer.
inline MsrVerdict& start_msr_verdict(MsrVerdict& v, uint32_t msr, bool write, uint8_t row, MsrAction action) {
  v = {v.exits + 1, msr, write, row, action, HostMsrAccess::not_made, 0, 0, 0, 0};
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

// The RDMSR fast path's record: `value` is what the guest read (unused on its #GP).
inline void note_fast_msr_read(MsrVerdict& v, uint32_t msr, uint64_t value) {
  ++v.exits;
  v.fast_read = (uint64_t{msr} << 1) | 1;
  v.guest_value = value;
}

// The record as hypercall 9 reports it: a fast-path read rebuilt as the slow path would have
// recorded it (the fast path answers only the table's #GP and the emulated
// IA32_FEATURE_CONTROL: no host access).
inline MsrVerdict reported_msr_verdict(const MsrVerdict& v) {
  if (!(v.fast_read & 1)) return v;
  const uint32_t msr = static_cast<uint32_t>(v.fast_read >> 1);
  const MsrRuleResult rule = msr_rule(msr);
  const bool gp = rule.read == MsrAction::gp;
  return {v.exits, msr, false, static_cast<uint8_t>(rule.row), rule.read, HostMsrAccess::not_made,
          static_cast<uint8_t>(gp ? 13 : 0), 0, gp ? 0 : v.guest_value, 0};
}

// Hypercall 9's RCX (vmm/hypercall.hpp), of a reported record.
inline uint64_t msr_verdict_info(const MsrVerdict& v) {
  return uint64_t{v.row} | (uint64_t{static_cast<uint8_t>(v.action)} << 8) | (uint64_t{v.write} << 16) |
         (uint64_t{static_cast<uint8_t>(v.host)} << 24) | (uint64_t{v.guest_vector} << 32);
}

}  // namespace vmm
