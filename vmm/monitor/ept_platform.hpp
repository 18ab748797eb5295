// The EPT write monitor's platform in the image (issue P4): the guest's identity EPT (shared
// by every CPU), the RAM map from the firmware, INVEPT on the calling CPU and guest RAM through
// the host's identity mapping. Image only (INVEPT, HostPhysMemory).
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_builder.hpp"
#include "vmm/guest_memory/host_phys_memory.hpp"
#include "vmm/monitor/ram_map.hpp"
#include "vmm/monitor/write_monitor.hpp"

namespace vmm::monitor {

class EptPlatform final : public Platform {
 public:
  // `single_context`: IA32_VMX_EPT_VPID_CAP[25] (INVEPT type 1), else all-context (type 2,
  // bit 26). `visible(gpa)`: guest RAM the emulator may touch (not hypervisor memory).
  EptPlatform(ept::EptIdentityMap& ept, const RamMap& ram, bool (*visible)(uint64_t), bool single_context)
      : ept_(ept), ram_(ram), phys_(visible), single_context_(single_context) {}

  bool is_ram(uint64_t gpa, uint64_t size) override { return ram_.contains(gpa, size); }
  ept::EptStatus set_write_protect(uint64_t gpa, uint64_t size, bool protect) override;
  bool ept_allows_write(uint64_t gpa) override;
  void flush_this_cpu() override;
  guest_memory::GuestPhysMemory& phys() override { return phys_; }

 private:
  ept::EptIdentityMap& ept_;
  const RamMap& ram_;
  guest_memory::HostPhysMemory phys_;
  bool single_context_;
};

}  // namespace vmm::monitor
