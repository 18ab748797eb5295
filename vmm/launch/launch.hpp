// Turning the running CPU into a guest of apexvisor (design.md "The path of one boot",
// step 2): VMXON, a VMCS whose guest state is this CPU's current state and whose host state
// is apexvisor's own (vmm/host), then VMLAUNCH so that the caller returns as the guest.
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"
#include "vmm/host/host_cpu.hpp"
#include "vmm/launch/guest_continuation.hpp"
#include "vmm/vcpu.hpp"
#include "vmx/capabilities.hpp"

namespace vmm {

// Built once on the BSP, shared read-only by every CPU.
struct MachineVm {
  GuestPolicy policy;
  uint64_t host_cr3;
  uint64_t eptp;
  const uint8_t* msr_bitmap;
  bool vpid;
  // apic_virt (vmm/apic/virtual_apic.hpp): the xAPIC page's physical address, the VMCS's
  // APIC-access address; 0 when unused. Each vCPU then has its virtual-APIC page.
  uint64_t apic_access_address;
};

// One CPU's VMX resources, allocated (zeroed, 4 KiB-aligned, runtime memory) by the loader.
struct CpuVm {
  HostCpu* host;
  Vcpu* vcpu;
  void* vmxon_region;
  void* vmcs;
  unsigned index;
};

struct LaunchResult {
  bool ok;
  const char* reason;       // on failure: what failed
  uint32_t vm_instruction_error;  // for a failed VMLAUNCH (VMfailValid)
};

// Sets the machine-wide state the exit handler uses (call once before any launch).
void set_machine_vm(const MachineVm* vm);

namespace detail {
// Hidden: the image is position-independent, and an extern of default visibility would be
// reached through the GOT (one more load on every VM exit).
[[gnu::visibility("hidden")]] extern const MachineVm* g_machine_vm;
}
// Inline: the exit path reads the guest policy from it on every VM exit.
inline const MachineVm* machine_vm() { return detail::g_machine_vm; }

// Builds `cpu`'s ExitContext in its HostCpu over the hardware VMCS and host operations and
// the machine's guest policy (set_machine_vm first), and points the vCPU at it. The launch
// calls it before VMLAUNCH; every VM exit then uses it as it is.
void prepare_exit_context(CpuVm& cpu);

// Runs on the CPU to virtualize. On success it does not return: the guest continues at
// `resume` (the caller's caller, outside the hypervisor image: guest_continuation.hpp) with
// kLaunchedAsGuest as that call's result. It returns only on failure.
LaunchResult launch_this_cpu(const vmx::VmxCapabilities& caps, CpuVm& cpu, const GuestContinuation& resume);

}  // namespace vmm
