// The single-step traps a vCPU's handlers pended when they retired an instruction for a guest
// with RFLAGS.TF set (vmm/instruction_retire.hpp; hypercall 10, single_step): what the
// hypervisor did, which a guest cannot see on Bochs, whose VM entry with RFLAGS.TF=1 delivers
// the trap before the next guest instruction whether it was pended or not (issue P10).
#pragma once
#include <stdint.h>

namespace vmm {

struct SingleStepRecord {
  uint64_t pended;         // traps pended so far
  uint64_t rip;            // the guest RIP of the last (the instruction after the retired one)
  uint64_t pending_debug;  // the pending debug exceptions field read back after pending it
  uint64_t pending_at_exit;  // the same field as the VM exit saved it, before pending
  uint16_t exit_reason;    // the basic exit reason of the exit that pended it
};

}  // namespace vmm
