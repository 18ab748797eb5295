#include "vmm/apic/x2apic_icr.hpp"

#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/ap_start_mode.hpp"
#include "vmm/log/log.hpp"
#include "vmm/apic/registry_targets.hpp"

namespace vmm::apic {
namespace {

constexpr uint32_t kX2apicIcr = 0x830;
ApicTopology* g_topo = nullptr;

// This CPU's x2APIC through the (fault-safe) host MSR access, and the other vCPUs.
class X2apicSession final : public LocalApic, public RegistryApTargets {
 public:
  explicit X2apicSession(HostOps& host) : host_(host) {}
  bool failed = false;

  void send_nmi(uint32_t apic_id) override { send((static_cast<uint64_t>(apic_id) << 32) | (4u << 8)); }
  void send_raw(uint64_t v) override { send(v); }
  void send_to(const Icr& icr, uint32_t apic_id) override {
    send((static_cast<uint64_t>(apic_id) << 32) | encode_icr_low_physical(icr));
  }

 private:
  void send(uint64_t v) { failed |= !host_.wrmsr_safe(kX2apicIcr, v); }
  HostOps& host_;
};

}  // namespace

void set_x2apic_topology(ApicTopology* topo) { g_topo = topo; }

ExitAction handle_x2apic_icr_write(ExitContext& ctx, uint64_t value) {
  X2apicSession session(ctx.host);
  if (ap_start_mode() != ApStartMode::intercept || !g_topo) {
    session.send_raw(value);
  } else {
    // SDM 11.12.9: in x2APIC mode ICR bits 31:20, 17:16 and 13:12 are reserved: #GP.
    if (value & 0xfff33000ull) return ExitAction::gp0();
    Icr icr = decode_x2apic_icr(value);
    InterceptOutcome out = intercept_icr_write(icr, value, ctx.vcpu.index, *g_topo, session, session);
    if (out.dropped) APEX_LOG_GUEST(error, "cpu%u: x2APIC %s IPI dropped: a mailbox is full", ctx.vcpu.index,
                              delivery_mode_name(icr.delivery));
  }
  return session.failed ? ExitAction::gp0() : ExitAction::advance();
}

}  // namespace vmm::apic
