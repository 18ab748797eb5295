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

// Machine-wide decisions made once at boot, read by every handler.
struct GuestPolicy {
  policy::ApxPolicy apx;
  vmx::ExitInfoForm exit_info_form;  // extended instruction information when the host has APX
  bool dt_guard;                     // descriptor-table exiting (config dt_guard=on)
  uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
  bool unrestricted_guest;
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
};

struct ExitContext {
  Vcpu& vcpu;
  vmx::VmcsAccess& vmcs;
  HostOps& host;
  const GuestPolicy& policy;
  // This exit happened while the CPU delivered an event (IDT-vectoring information valid,
  // SDM Vol 3C 28.2.4), which the dispatcher has already programmed to be injected again
  // (reinject_interrupted_event, vmm/exit_dispatch.hpp). There is no instruction to emulate:
  // the handler only makes the delivery possible and resumes. Set for every exit.
  bool event_delivery = false;
};

using ExitHandler = ExitAction (*)(ExitContext& ctx);

}  // namespace vmm
