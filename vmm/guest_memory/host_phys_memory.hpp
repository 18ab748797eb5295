// Guest RAM as the hypervisor reaches it in the image: the EPT is an identity map, so
// guest-physical = host-physical, except that what the EPT does not map, and hypervisor
// memory, are refused (bad_gpa). It is the `ram` of the routed view (guest_phys_view.hpp),
// which gives hypervisor memory, the trapped APIC page and watched pages their own answers
// before an access gets here, and the EPT write monitor's raw access for its snapshots.
// Image only (host identity mapping, host GS base).
#pragma once
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm {
struct ExitContext;
}

namespace vmm::guest_memory {

class HostPhysMemory final : public GuestPhysMemory {
 public:
  // `visible(gpa)`: false for hypervisor memory and anything the EPT does not map.
  explicit HostPhysMemory(bool (*visible)(uint64_t gpa)) : visible_(visible) {}

  PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override;
  PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override;
  PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired, uint64_t* observed) override;
  // Whether the page is reachable, without reading it (a read of MMIO can have effects).
  PhysStatus probe(uint64_t gpa) override { return visible_(gpa) ? PhysStatus::ok : PhysStatus::bad_gpa; }
  // The host maps guest-physical memory 1:1; what is visible once stays visible.
  const volatile uint8_t* ram_pointer(uint64_t gpa) override {
    return visible_(gpa) ? reinterpret_cast<const volatile uint8_t*>(gpa) : nullptr;
  }

 private:
  bool (*visible_)(uint64_t);
};

// The exit this CPU is handling (Vcpu::exit_context), for the routed view's `current_exit`:
// in VMX root the host GS base holds this CPU's HostCpu (HOST_GS_BASE, vmm/launch/launch.cpp;
// host_exception.cpp finds its CPU the same way). Only while handling an exit: outside VMX
// root GS.base is the firmware's or the OS's.
ExitContext* this_cpu_exit();

}  // namespace vmm::guest_memory
