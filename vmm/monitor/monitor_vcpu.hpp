// The EPT write monitor's per-CPU state (issue P4), kept in the vCPU (vmm/vcpu.hpp) so that
// the exit path and the MTF handler find it without a lookup. Zero is the idle state (vCPUs
// live in zeroed runtime pages).
#pragma once
#include <stdint.h>

namespace vmm::monitor {

// Pages of one single-stepped instruction that are snapshotted (an access that straddles two
// watched pages). Further pages, up to kMaxStepPages, are still made writable so the guest
// progresses, but their writes are not recorded (counted as dropped).
inline constexpr unsigned kFallbackPages = 2;
// The most pages one instruction can write: an AVX-512 scatter of 16 elements, each of which
// may straddle two pages (an event delivery's pushes, an XSAVE area and a string iteration
// take fewer). A guest can therefore never reach the stop past this bound: only a defect can.
inline constexpr unsigned kMaxStepPages = 32;
inline constexpr unsigned kInsnBytes = 16;  // instruction bytes kept per event (max length 15)

struct VcpuMonitor {
  // The monitor's EPT generation this CPU last invalidated for (INVEPT, SDM Vol 3C 29.4.3.1):
  // when the monitor write-protects pages, every other CPU may still hold writable
  // translations, so each CPU flushes before its next VM entry once the generation moved.
  uint64_t ept_generation;

  // One-shot monitor-trap-flag single-step (SDM Vol 3C 26.5.2) of an instruction the
  // emulator cannot do: the pages it writes are writable in the EPT until the MTF exit.
  bool stepping;
  uint8_t page_count;                 // pages made writable for this step (<= kMaxStepPages)
  uint8_t insn_length;                // 0 when the instruction could not be fetched/decoded
  bool snapped[kMaxStepPages];        // page i has a snapshot (else its writes go unrecorded)
  // Page i is hypervisor memory, pointed at this CPU's snapshot page i as a sink for the
  // pushes of one event delivery (WriteMonitor::sink_delivery_write): no snapshot, no events;
  // the step's exit points it back at the zero page and counts the discarded write.
  bool sunk[kMaxStepPages];
  // With sunk: the page is the local-APIC page, not hypervisor memory
  // (WriteMonitor::sink_apic_delivery); its EPT entry to put back at the step's exit.
  uint64_t saved_leaf[kMaxStepPages];
  uint64_t page[kMaxStepPages];       // guest-physical page addresses
  uint64_t linear_page[kMaxStepPages];  // guest-linear page (from the exit), ~0 unknown
  uint64_t rip;
  uint32_t timer_value;  // VMX-preemption timer value of the step (StepMethod::preemption_timer)
  uint8_t insn[kInsnBytes];

  // The instruction of the exit being handled, as its emulated writes' events name it
  // (RIP and bytes), fetched once per exit: valid while origin_exit == exits_total(vcpu).
  bool origin_valid;
  uint8_t origin_insn_length;  // 0 when it could not be fetched/decoded
  uint64_t origin_exit;
  uint64_t origin_rip;
  uint8_t origin_insn[kInsnBytes];
};

}  // namespace vmm::monitor
