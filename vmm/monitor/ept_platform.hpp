// The EPT write monitor's platform in the image (issue P4): the guest's identity EPT (shared
// by every CPU), the RAM map from the firmware, INVEPT on the calling CPU and guest RAM through
// the host's identity mapping. Image only (INVEPT, HostPhysMemory).
#pragma once
#include <stdint.h>

#include "vmm/ept/ept_builder.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"
#include "vmm/guest_memory/host_phys_memory.hpp"
#include "vmm/monitor/ram_map.hpp"
#include "vmm/monitor/write_monitor.hpp"
#include "vmx/capabilities.hpp"

namespace vmm::monitor {

class EptPlatform final : public Platform {
 public:
  // `single_context`: IA32_VMX_EPT_VPID_CAP[25] (INVEPT type 1), else all-context (type 2,
  // bit 26). `visible(gpa)`: guest RAM the emulator may touch (not hypervisor memory).
  EptPlatform(ept::EptIdentityMap& ept, const RamMap& ram, bool (*visible)(uint64_t), bool single_context)
      : ept_(ept), ram_(ram), phys_(visible), single_context_(single_context) {}

  bool is_ram(uint64_t gpa, uint64_t size) override { return ram_.contains(gpa, size); }
  ept::EptStatus set_write_protect(uint64_t gpa, uint64_t size, bool protect) override;
  ept::EptStatus redirect_hidden(uint64_t page, uint64_t sink_hpa) override;
  ept::EptStatus redirect_device(uint64_t page, uint64_t sink_hpa, uint64_t* saved) override;
  ept::EptStatus restore_device(uint64_t page, uint64_t saved) override;
  bool ept_allows_write(uint64_t gpa) override;
  void flush_this_cpu() override;
  guest_memory::GuestPhysMemory& phys() override { return phys_; }

  // Set right before the first CPU launches: INVEPT exists only in VMX operation (#UD
  // outside it, SDM Vol 3C 31.3), and before any launch no CPU has used the EPT.
  void set_launched() { __atomic_store_n(&launched_, true, __ATOMIC_RELEASE); }

 private:
  ept::EptIdentityMap& ept_;
  const RamMap& ram_;
  guest_memory::HostPhysMemory phys_;
  bool single_context_;
  bool launched_ = false;
};

// The loader's side (boot/virtualize.cpp), in order:
//  1. step_method_for(caps, &method): false when the CPU can neither single-step by MTF nor
//     by the preemption timer (no monitor then);
//  2. before hiding hypervisor memory: kSnapshotPagesPerCpu pages per CPU and a pool of EPT
//     table pages (the map's allocator must hand them out once the map is live);
//  3. once the EPT is final: start_write_monitor() (registers the EPT write-intercept owner
//     and the machine's monitor, routes the watched pages of `view` — GuestPolicy::guest_ram,
//     through which every emulated write is recorded — to it, and adds the configured ranges,
//     logging each);
//  4. right before the first CPU launches: write_monitor_launching() (INVEPT is valid from
//     then on).
inline constexpr unsigned kSnapshotPagesPerCpu = kFallbackPages;
bool step_method_for(const vmx::VmxCapabilities& caps, StepMethod* method);
void start_write_monitor(ept::EptIdentityMap& ept, const RamMap& ram, bool (*visible)(uint64_t),
                         guest_memory::GuestPhysView& view, const vmx::VmxCapabilities& caps, uint8_t* snapshots,
                         unsigned cpus, const Range* ranges, unsigned range_count);
void write_monitor_launching();

}  // namespace vmm::monitor
