// One virtual CPU: the guest state the hypervisor keeps outside the VMCS. One per physical
// CPU (apexvisor virtualizes each CPU in place), in runtime memory.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmx/exit_reason.hpp"
#include "vmx/gpr_file.hpp"
#include "vmm/apic/ap_mailbox.hpp"
#include "vmm/apic/ap_start.hpp"
#include "vmm/monitor/monitor_vcpu.hpp"
#include "vmm/pending_work.hpp"
#include "vmm/handlers/rip_decode_cache.hpp"
#include "vmm/msr_verdict.hpp"
#include "vmm/policy/xcr0_state.hpp"
#include "vmm/policy/xsetbv.hpp"
#include "vmm/single_step_record.hpp"
#include "vmm/vcpu_layout.h"

namespace vmm::apic {
struct VirtualApicPage;
}

namespace vmm {

struct ExitContext;

enum class VcpuState : uint8_t {
  active,         // running guest code
  wait_for_sipi,  // after INIT, until a SIPI (SDM 10.4.7.3; emulated, see handlers/init_sipi)
  stopped,        // stopped with a dump (triple fault, EPT misconfiguration, ...): never resumed
};

struct Vcpu {
  // The exit stub addresses the register file at offset 0, the EGPR flag at
  // kSaveEgprsOffset and `pending` at APEX_VCPU_PENDING_OFFSET (vmx/entry/vm_entry_exit.S):
  // the static_asserts below hold them there.
  vmx::GprFile regs;
  // The guest's XCR0 shadow and the "save EGPRs" flag the exit stub tests: R16..R31 are
  // saved/restored only when it is set, since with XCR0.APX=0 every EGPR access #UDs in
  // the host (design.md invariants). Both change together (policy::apply_xcr0).
  policy::VcpuXcr0State xstate;

  unsigned index;  // the CPU number used in log lines
  VcpuState state;
  bool in_root;  // this CPU is handling a VM exit (vmm/host/root_state.hpp)
  // Work due before the next VM entry (vmm/pending_work.hpp): an NMI for the guest
  // (pending::nmi), the guest's CR2 (pending::cr2), the AP mailbox, the write monitor's
  // INVEPT. The exit stub tests this one word right before VMRESUME (vmm/host/reentry_window.hpp);
  // zero on almost every exit.
  PendingWork pending;
  // exits_total() when the last SIPI exit started this CPU (0 once an INIT at that point was
  // taken as the INIT wait-for-SIPI held, and ignored: handlers/init_sipi.cpp).
  uint64_t sipi_start_exits;
  // A guest NMI the entry path could not inject yet: it waits for the NMI window, or in
  // wait-for-SIPI for the SIPI (vmm/nmi_delivery.hpp). Only this CPU touches it.
  bool nmi_held;

  // What every VM exit hands its handler: built once, before the first VMLAUNCH
  // (prepare_exit_context, vmm/launch/launch.hpp), in this CPU's HostCpu, so that the exit
  // path loads one pointer instead of filling four fields on every exit.
  ExitContext* exit_context;

  // Exits by basic reason (hypercall 1 reads them); their sum is exits_total(), computed
  // when asked rather than counted on every exit.
  uint64_t exit_counts[vmx::kExitReasonLimit];
  // Guest writes into hypervisor memory, discarded (vmm/handlers/hypervisor_memory_write.cpp).
  uint64_t hypervisor_writes_discarded;

  // Text of the last stop reason that needed formatting (EPT violation with its addresses,
  // an unexpected exception, ...): ExitAction::stop points here. Per vCPU, so two CPUs
  // stopping at once never share a buffer.
  char stop_detail[128];

  // init_sipi=intercept (vmm/apic/ap_start.hpp): INIT/STARTUP sent to this CPU by others
  // arrive here, and the state machine says whether the guest may run.
  bool virtualized;  // set by the launch, before VMLAUNCH

  // A #PF injected by the emulator needs the guest's CR2, which VM entry does not load: the
  // exit path writes it into the (shared) CR2 right before VMRESUME (pending::cr2).
  uint64_t cr2;
  apic::ApMachine ap;
  apic::ApMailbox mailbox;
  // apic_virt (vmm/apic/virtual_apic.hpp): this CPU's virtual-APIC page, null when unused.
  apic::VirtualApicPage* vapic;

  // The APIC-access MOV-load fast path's last decode (vmm/handlers/rip_decode_cache.hpp).
  RipDecodeCache rip_cache;

  // EPT write monitor (vmm/monitor): the EPT generation this CPU last flushed for, and its
  // single-step (MTF, else the preemption timer) of an instruction the emulator cannot do.
  monitor::VcpuMonitor monitor;

  // dt_guard (vmm/handlers/descriptor_table.cpp): how many of each descriptor-table
  // instruction (in DtInsn order) this CPU emulated; the first of each is logged.
  uint64_t dt_guard_emulated[8];
  // Exits in a row whose instruction changed before it was fetched again (re-executed).
  uint32_t dt_guard_refetch_streak;

  // The last XSETBV exit's verdict (vmm/handlers/xsetbv.cpp), for hypercall 7.
  policy::XsetbvRecord last_xsetbv;
  // The last MSR exit's answer (vmm/handlers/msr_access.cpp), for hypercall 9.
  MsrVerdict last_msr;
  // The single-step traps pended when retiring instructions (vmm/instruction_retire.hpp),
  // for hypercall 10.
  SingleStepRecord single_step;
};

// Every exit this vCPU has taken (the per-reason counters summed; hypercall 1, the stop
// line, the write monitor's per-exit cache). Each counter is written only by its own CPU.
inline uint64_t exits_total(const Vcpu& vcpu) {
  uint64_t n = 0;
  for (const uint64_t& c : vcpu.exit_counts) n += __atomic_load_n(&c, __ATOMIC_RELAXED);
  return n;
}

inline constexpr size_t kSaveEgprsOffset = APEX_VCPU_SAVE_EGPRS_OFFSET;
static_assert(offsetof(Vcpu, regs) == APEX_VCPU_GPRS_OFFSET, "exit stub: register file at offset 0");
static_assert(offsetof(Vcpu, xstate) + offsetof(policy::VcpuXcr0State, save_egprs) == kSaveEgprsOffset,
              "exit stub: EGPR flag offset");
// The stub's re-entry test reads Vcpu::pending as one 32-bit word (vmm/host/reentry_window.hpp).
static_assert(offsetof(Vcpu, pending) == APEX_VCPU_PENDING_OFFSET && sizeof(PendingWork) == 4,
              "exit stub: pending-work word offset");

}  // namespace vmm
