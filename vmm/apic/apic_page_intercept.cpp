#include "vmm/apic/apic_page_intercept.hpp"

#include "arch/little_endian.hpp"
#include "vmm/apic/mmio_xapic.hpp"
#include "vmm/apic/registry_targets.hpp"
#include "vmm/apic/xapic_port.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/store32_at_rip.hpp"
#include "vmm/log/log.hpp"

namespace vmm::apic {

void ApicPageIntercept::init(uint64_t apic_base, ApicTopology* topo, bool (*visible)(uint64_t)) {
  base_ = apic_base & ~0xfffull;
  topo_ = topo;
  visible_ = visible;
}

class ApicPageIntercept::Session final : public guest_memory::MmioDevice {
 public:
  Session(uint64_t base, unsigned sender, ApicTopology& topo)
      : regs_(base), port_(regs_, sender, topo, targets_), sender_(sender) {}

  guest_memory::PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override {
    // APIC registers are 32 bits wide at 16-byte strides; an access is one 32-bit load.
    unsigned offset = static_cast<unsigned>(gpa & 0xfff);
    const uint32_t v = regs_.read(offset & ~3u);
    arch::store_le(static_cast<uint8_t*>(dst), static_cast<unsigned>(bytes), v >> (8 * (offset & 3)));
    return guest_memory::PhysStatus::ok;
  }

  guest_memory::PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override {
    unsigned offset = static_cast<unsigned>(gpa & 0xfff);
    if ((offset & 3) || bytes != 4) {
      // Not a whole register: such writes have no defined effect on an APIC; drop them.
      APEX_LOG(warn, "cpu%u: %zu-byte write at local APIC offset 0x%x ignored", sender_, bytes, offset);
      return guest_memory::PhysStatus::ok;
    }
    (void)port_.write_register(offset, static_cast<uint32_t>(arch::load_le(static_cast<const uint8_t*>(src), 4)));
    return guest_memory::PhysStatus::ok;
  }

 private:
  MmioXapic regs_;
  RegistryApTargets targets_;
  XapicPort port_;
  unsigned sender_;
};

ExitAction ApicPageIntercept::emulate(ExitContext& ctx, uint64_t gpa, Access access) {
  Session session(base_, ctx.vcpu.index, *topo_);
  guest_memory::HostPhysMemory phys(visible_, base_, 4096, &session);
  // The MOV m32 stores and loads every APIC driver uses, without the general decoder; all
  // paths go through `session`, so ICR, LDR and DFR handling stays in XapicPort.
  ExitAction fast = ExitAction::resume();
  if (access == Access::ept_write && store32_at_rip(ctx, phys, gpa, &fast)) return fast;
  if (access == Access::apic_access_read && load32_at_rip(ctx, phys, gpa, &fast)) return fast;
  bool unsupported = false;
  ExitAction a = emulate_at_rip(ctx, phys, nullptr, &unsupported);
  if (unsupported) return ExitAction::stop("an access to the local APIC page that apexvisor cannot emulate");
  return a;
}

}  // namespace vmm::apic
