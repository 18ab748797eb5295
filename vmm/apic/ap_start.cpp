#include "vmm/apic/ap_start.hpp"

namespace vmm::apic {

unsigned TargetSet::count() const {
  unsigned n = 0;
  // Kernighan's loop: the image links no libgcc, where __builtin_popcount may end up.
  for (uint64_t w : bits)
    for (; w; w &= w - 1) ++n;
  return n;
}

namespace {

// SDM 11.6.2.2 (xAPIC logical destination): flat model: the 8-bit mask ANDed with the
// logical id; cluster model: high nibble = cluster (0xF broadcast), low nibble = members.
bool xapic_logical_match(uint8_t dest, uint8_t logical_id, bool cluster) {
  if (!cluster) return (dest & logical_id) != 0;
  uint8_t dest_cluster = dest >> 4, id_cluster = logical_id >> 4;
  if (dest_cluster != 0xf && dest_cluster != id_cluster) return false;
  return (dest & logical_id & 0x0f) != 0;
}

// SDM 11.12.10.2: x2APIC logical id = cluster (APIC id bits 19:4) in 31:16, and the bit
// 1 << (APIC id bits 3:0) in 15:0.
bool x2apic_logical_match(uint32_t dest, uint32_t apic_id) {
  uint32_t cluster = apic_id >> 4;
  if ((dest >> 16) != cluster) return false;
  return (dest & 0xffff) & (1u << (apic_id & 0xf));
}

}  // namespace

TargetSet resolve_targets(const Icr& icr, const ApicTopology& topo, unsigned sender) {
  TargetSet t;
  switch (icr.shorthand) {
    case Shorthand::self:
      if (sender < topo.count) t.add(sender);
      return t;
    case Shorthand::all_including_self:
      for (unsigned i = 0; i < topo.count; ++i) t.add(i);
      return t;
    case Shorthand::all_excluding_self:
      for (unsigned i = 0; i < topo.count; ++i)
        if (i != sender) t.add(i);
      return t;
    case Shorthand::none:
      break;
  }
  // The ICR's format decides: x2APIC has 32-bit destinations and derives logical ids from
  // the APIC id (11.12.10.2); the xAPIC uses the LDR/DFR the guest wrote.
  const uint32_t broadcast = icr.x2apic ? 0xffffffffu : 0xffu;
  for (unsigned i = 0; i < topo.count; ++i) {
    bool match;
    if (!icr.logical) match = icr.destination == broadcast || icr.destination == topo.apic_id[i];
    else if (icr.x2apic) match = icr.destination == broadcast || x2apic_logical_match(icr.destination, topo.apic_id[i]);
    else match = xapic_logical_match(static_cast<uint8_t>(icr.destination), topo.logical_id[i], topo.cluster_model[i]);
    if (match) t.add(i);
  }
  return t;
}

ApAction ApMachine::on_init() {
  if (state == ApState::wait_for_sipi) return ApAction::none;
  state = ApState::wait_for_sipi;
  return ApAction::enter_wait;
}

ApAction ApMachine::on_startup() {
  if (state != ApState::wait_for_sipi) return ApAction::none;
  state = ApState::running;
  return ApAction::start_at_vector;
}

}  // namespace vmm::apic
