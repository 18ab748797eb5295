// Guest-physical memory as the hypervisor reaches it in the image: the EPT is an identity
// map, so guest-physical = host-physical, except that hypervisor pages (hidden in the EPT)
// are refused — a guest must not make the emulator read or write them through its page
// tables — and that one MMIO range may be routed to a device model (the local APIC page).
#pragma once
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm::guest_memory {

class MmioDevice {
 public:
  virtual PhysStatus read(uint64_t gpa, void* dst, size_t bytes) = 0;
  virtual PhysStatus write(uint64_t gpa, const void* src, size_t bytes) = 0;

 protected:
  ~MmioDevice() = default;
};

class HostPhysMemory final : public GuestPhysMemory {
 public:
  // `visible(gpa)`: false for hypervisor memory and anything the EPT does not map.
  HostPhysMemory(bool (*visible)(uint64_t gpa), uint64_t mmio_base = 0, uint64_t mmio_size = 0,
                 MmioDevice* mmio = nullptr)
      : visible_(visible), mmio_base_(mmio_base), mmio_size_(mmio_size), mmio_(mmio) {}

  PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override;
  PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override;
  PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired, uint64_t* observed) override;

 private:
  bool in_mmio(uint64_t gpa) const { return mmio_ && gpa >= mmio_base_ && gpa - mmio_base_ < mmio_size_; }
  bool (*visible_)(uint64_t);
  uint64_t mmio_base_, mmio_size_;
  MmioDevice* mmio_;
};

}  // namespace vmm::guest_memory
