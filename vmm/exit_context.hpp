// Everything an exit handler may use: the vCPU, the current VMCS, the host's hardware
// actions and the guest policy. The image builds one per exit over the real hardware; the
// tests build one over FakeVmcs and a fake HostOps.
#pragma once
#include <stdint.h>

#include "vmm/exit_action.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"
#include "vmm/host_ops.hpp"
#include "vmm/policy/apx_policy.hpp"
#include "vmm/vcpu.hpp"
#include "vmx/exit_info_form.hpp"
#include "vmx/vmcs_access.hpp"

namespace vmm {

// What the EPT did about a violation in its part mapped on first access (MMIO above RAM,
// vmm/ept/ept_extent.hpp).
enum class OnDemandMap : uint8_t {
  not_here,   // the address lies outside that part (or in a block already mapped there: a
              // violation for another reason)
  mapped,     // its block is mapped now (by this CPU or another): re-execute
  exhausted,  // no table page left: nothing maps it
};

// Machine-wide decisions made once at boot, read by every handler.
struct GuestPolicy {
  policy::ApxPolicy apx;
  vmx::ExitInfoForm exit_info_form;  // extended instruction information when the host has APX
  bool dt_guard;                     // descriptor-table exiting (config dt_guard=on)
  uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
  bool unrestricted_guest;
  // The CPU can enter a guest in the shutdown activity state (IA32_VMX_MISC[7], SDM Vol 3C
  // A.6): how a guest's triple fault is answered (vmm/handlers/triple_fault.cpp).
  bool activity_shutdown;
  // The processor's linear-address width is 57 bits (it supports 5-level paging:
  // CPUID.(7,0):ECX.LA57), whatever the guest's CR4.LA57. Bases loaded into system registers
  // are checked against it (LGDT/LIDT/LLDT/LTR; the VM-entry checks on guest state, SDM Vol 3C
  // 27.3.1.2-27.3.1.3, use the same width); addresses the guest accesses are checked against
  // its paging mode instead (EmuContext::la57, from CR4.LA57).
  bool linear_57;
  // CPUID.80000008H:EAX[7:0], the processor's physical-address width: the reserved bits of
  // PAE PDPTEs (vmm/handlers/pae_pdptes.hpp). 0: not known (52 is assumed).
  uint8_t max_phys_bits;
  // Guest memory by guest-physical address for every path that emulates an instruction
  // against it (write monitor, APIC intercept, hypervisor-memory discard, descriptor-table
  // guard, MOV fast paths): the one routed view (vmm/guest_memory/guest_phys_view.hpp), which
  // gives hypervisor memory, the trapped APIC page and watched pages the EPT's answers, over
  // the image's HostPhysMemory (boot/virtualize.cpp) or a fake in the tests; null when there
  // is none (those handlers then stop the guest CPU with a reason, or step it).
  guest_memory::GuestPhysView* guest_ram;
  // The one answer to "is this guest-physical page hypervisor memory" (hidden in the EPT:
  // boot/virtualize.cpp asks the EPT); null in tests that do not need it.
  bool (*hypervisor_memory)(uint64_t gpa);
  // Maps the block holding `gpa` when the EPT maps that part of the address space on first
  // access (boot/virtualize.cpp: EptIdentityMap::map_on_demand under live_ept_lock); null when
  // everything was mapped at boot.
  OnDemandMap (*ept_on_demand)(uint64_t gpa);
};

struct ExitContext {
  Vcpu& vcpu;
  vmx::VmcsAccess& vmcs;
  HostOps& host;
  const GuestPolicy& policy;
  // This exit happened while the CPU delivered an event (IDT-vectoring information valid,
  // SDM Vol 3C 28.2.4), which the dispatcher has already programmed to be injected again
  // (reinject_interrupted_event, vmm/exit_dispatch.hpp). There is no instruction to emulate:
  // the handler only makes the delivery possible and resumes. Set for every exit of a reason
  // that can interrupt a delivery (exit_may_interrupt_delivery), before its handler; the
  // handlers of other reasons never read it.
  bool event_delivery = false;
};

using ExitHandler = ExitAction (*)(ExitContext& ctx);

}  // namespace vmm
