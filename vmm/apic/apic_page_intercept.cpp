#include "vmm/apic/apic_page_intercept.hpp"

#include "arch/cpu.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/store32_at_rip.hpp"
#include "vmm/log/log.hpp"
#include "vmm/apic/registry_targets.hpp"

namespace vmm::apic {
namespace {
// xAPIC register offsets (SDM Vol 3A 11.4.1, Table 11-1).
constexpr unsigned kLdr = 0xd0, kDfr = 0xe0, kIcrLow = 0x300, kIcrHigh = 0x310;
constexpr uint32_t kDeliveryPending = 1u << 12;  // ICR low: send pending
}  // namespace

void ApicPageIntercept::init(uint64_t apic_base, ApicTopology* topo, bool (*visible)(uint64_t)) {
  base_ = apic_base & ~0xfffull;
  topo_ = topo;
  visible_ = visible;
}

class ApicPageIntercept::Session final : public guest_memory::MmioDevice, public LocalApic, public RegistryApTargets {
 public:
  Session(ApicPageIntercept& owner, unsigned sender) : o_(owner), sender_(sender) {}

  guest_memory::PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override {
    // APIC registers are 32 bits wide at 16-byte strides; an access is one 32-bit load.
    unsigned offset = static_cast<unsigned>(gpa & 0xfff);
    uint32_t v = reg(offset & ~3u);
    auto* out = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * ((offset & 3) + i)));
    return guest_memory::PhysStatus::ok;
  }

  guest_memory::PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override {
    unsigned offset = static_cast<unsigned>(gpa & 0xfff);
    if ((offset & 3) || bytes != 4) {
      // Not a whole register: such writes have no defined effect on an APIC; drop them.
      APEX_LOG(warn, "cpu%u: %zu-byte write at local APIC offset 0x%x ignored", sender_, bytes, offset);
      return guest_memory::PhysStatus::ok;
    }
    uint32_t value = 0;
    const auto* in = static_cast<const uint8_t*>(src);
    for (unsigned i = 0; i < 4; ++i) value |= static_cast<uint32_t>(in[i]) << (8 * i);
    ApicTopology& topo = *o_.topo_;
    if (offset == kLdr && sender_ < topo.count) topo.logical_id[sender_] = static_cast<uint8_t>(value >> 24);
    if (offset == kDfr && sender_ < topo.count) topo.cluster_model[sender_] = ((value >> 28) & 0xf) == 0;
    if (offset != kIcrLow) {
      set_reg(offset, value);
      return guest_memory::PhysStatus::ok;
    }
    const uint32_t high = reg(kIcrHigh);
    Icr icr = decode_xapic_icr(value, high);
    if (icr.delivery == DeliveryMode::init || icr.delivery == DeliveryMode::startup)
      __atomic_add_fetch(&o_.intercepted_, 1, __ATOMIC_RELAXED);
    InterceptOutcome out = intercept_icr_write(icr, (static_cast<uint64_t>(high) << 32) | value, sender_, topo, *this, *this);
    if (!out.sent_raw)
      APEX_LOG(debug, "cpu%u: %s IPI intercepted: %u posted, %u sent for real", sender_, delivery_mode_name(icr.delivery),
               out.posted, out.passed_on);
    if (out.dropped)
      APEX_LOG(error, "cpu%u: %s IPI dropped: a target's mailbox is full", sender_, delivery_mode_name(icr.delivery));
    return guest_memory::PhysStatus::ok;
  }

  void send_nmi(uint32_t apic_id) override { send(apic_id << 24, 4u << 8); }

  void send_raw(uint64_t icr_value) override {
    set_reg(kIcrHigh, static_cast<uint32_t>(icr_value >> 32));
    set_reg(kIcrLow, static_cast<uint32_t>(icr_value));
  }

  void send_to(const Icr& icr, uint32_t apic_id) override {
    send(apic_id << 24, encode_icr_low_physical(icr));
  }

 private:
  uint32_t reg(unsigned offset) const { return *reinterpret_cast<volatile uint32_t*>(o_.base_ + offset); }
  void set_reg(unsigned offset, uint32_t value) const {
    *reinterpret_cast<volatile uint32_t*>(o_.base_ + offset) = value;
  }
  // Writes ICR high then low (the low write sends), waits for the send to leave the APIC
  // (bounded), and restores the guest's ICR high so the guest never sees ours.
  void send(uint32_t high, uint32_t low) const {
    const uint32_t guest_high = reg(kIcrHigh);
    set_reg(kIcrHigh, high);
    set_reg(kIcrLow, low);
    for (unsigned spin = 0; spin < 100000 && (reg(kIcrLow) & kDeliveryPending); ++spin) arch::cpu_pause();
    set_reg(kIcrHigh, guest_high);
  }

  ApicPageIntercept& o_;
  unsigned sender_;
};

ExitAction ApicPageIntercept::on_write(ExitContext& ctx, uint64_t gpa) {
  Session session(*this, ctx.vcpu.index);
  guest_memory::HostPhysMemory phys(visible_, base_, 4096, &session);
  // The MOV m32 stores every APIC driver uses, without the general decoder; both paths write
  // through `session`, so ICR, LDR and DFR handling stays in Session::write.
  ExitAction fast = ExitAction::resume();
  if (store32_at_rip(ctx, phys, gpa, &fast)) return fast;
  bool unsupported = false;
  ExitAction a = emulate_at_rip(ctx, phys, nullptr, &unsupported);
  if (unsupported) return ExitAction::stop("a write to the local APIC page that apexvisor cannot emulate");
  return a;
}

}  // namespace vmm::apic
