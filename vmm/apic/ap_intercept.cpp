#include "vmm/apic/ap_intercept.hpp"

namespace vmm::apic {

InterceptOutcome intercept_icr_write(const Icr& icr, uint64_t raw_value, unsigned sender, const ApicTopology& topo,
                                     ApTargets& targets, LocalApic& apic) {
  InterceptOutcome out{};
  const bool init = icr.delivery == DeliveryMode::init, startup = icr.delivery == DeliveryMode::startup;
  if (!init && !startup) {
    apic.send_raw(raw_value);
    out.sent_raw = true;
    return out;
  }
  // INIT level de-assert starts nothing (SDM 11.6.1); virtualized CPUs never saw a real
  // INIT, so it only goes to the others.
  const bool deassert = icr.is_init_deassert();
  TargetSet set = resolve_targets(icr, topo, sender);
  for (unsigned i = 0; i < topo.count; ++i) {
    if (!set.has(i)) continue;
    if (!targets.virtualized(i)) {
      apic.send_to(icr, topo.apic_id[i]);
      ++out.passed_on;
      continue;
    }
    if (deassert) continue;
    ApEvent e{init ? ApEvent::Kind::init : ApEvent::Kind::startup, icr.vector};
    ApMailbox* box = targets.mailbox(i);
    if (!box || !box->post(e)) {
      ++out.dropped;
      continue;
    }
    ++out.posted;
    if (i == sender) {
      out.self_posted = true;
      continue;
    }
    box->note_kick();
    apic.send_nmi(topo.apic_id[i]);
  }
  return out;
}

}  // namespace vmm::apic
