// Starting guest APs without real INIT signals (issue P6, init_sipi=intercept).
//
// Why: natively, a VMX guest that receives INIT exits and the hypervisor emulates
// wait-for-SIPI. Bochs 2.7 keeps INIT pending after the INIT exit (fixed in 2.8), so such an
// AP exits on INIT forever; under QEMU/KVM nested, named CPU models lack wait-for-SIPI and a
// SIPI sent right after INIT de-assert can be lost. So apexvisor intercepts the ICR writes
// that send INIT and STARTUP, and emulates them: the target CPU learns of them through a
// per-CPU mailbox and an NMI, waits in VMX root, and enters its guest in real mode at
// vector*4096 when the STARTUP arrives.
//
// This file is the logic (host-tested): which vCPUs an ICR write targets, and each vCPU's
// start-up state machine. vmm/handlers/apic_intercept.cpp wires it to the hardware.
#pragma once
#include <stdint.h>

#include "vmm/apic/icr.hpp"
#include "vmm/cpu_limit.hpp"

namespace vmm::apic {

using vmm::kMaxCpus;

// What apexvisor knows of each CPU's local APIC for destination matching (SDM 11.6.2).
struct ApicTopology {
  unsigned count = 0;
  uint32_t apic_id[kMaxCpus] = {};
  uint8_t logical_id[kMaxCpus] = {};  // xAPIC LDR bits 31:24 (as last written by the guest)
  bool cluster_model[kMaxCpus] = {};  // xAPIC DFR model: false flat (0xF), true cluster (0x0)
};

// The CPUs an IPI from CPU `sender` reaches, as a bit set over CPU indices.
struct TargetSet {
  uint64_t bits[kMaxCpus / 64] = {};
  void add(unsigned i) { bits[i / 64] |= 1ull << (i % 64); }
  bool has(unsigned i) const { return bits[i / 64] & (1ull << (i % 64)); }
  unsigned count() const;
};

TargetSet resolve_targets(const Icr& icr, const ApicTopology& topo, unsigned sender);

// One vCPU's view of INIT/STARTUP (SDM Vol 3A 10.4.2: the INIT-SIPI-SIPI protocol).
enum class ApState : uint8_t {
  running,        // executing guest code
  wait_for_sipi,  // received INIT: waits (in VMX root) for a STARTUP
};

enum class ApAction : uint8_t {
  none,            // nothing to do (ignored event)
  enter_wait,      // stop running the guest; wait for a STARTUP
  start_at_vector, // load the post-INIT real-mode state at vector*4096 and run
};

struct ApMachine {
  ApState state = ApState::running;
  // INIT: any state -> wait_for_sipi (INIT while already waiting changes nothing).
  ApAction on_init();
  // STARTUP: only a CPU waiting for one starts; a second STARTUP (the protocol sends two)
  // and a STARTUP without INIT are ignored, as on hardware.
  ApAction on_startup();
};

}  // namespace vmm::apic
