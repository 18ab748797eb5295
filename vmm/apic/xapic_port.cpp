#include "vmm/apic/xapic_port.hpp"

#include "arch/cpu.hpp"
#include "vmm/log/log.hpp"

namespace vmm::apic {

InterceptOutcome XapicPort::write_register(unsigned offset, uint32_t value) {
  if (offset == xapic::ldr && sender_ < topo_.count) topo_.logical_id[sender_] = static_cast<uint8_t>(value >> 24);
  if (offset == xapic::dfr && sender_ < topo_.count) topo_.cluster_model[sender_] = ((value >> 28) & 0xf) == 0;
  if (offset != xapic::icr_low) {
    regs_.write(offset, value);
    return {};
  }
  const uint32_t high = regs_.read(xapic::icr_high);
  const Icr icr = decode_xapic_icr(value, high);
  const InterceptOutcome r = intercept_icr_write(icr, (static_cast<uint64_t>(high) << 32) | value, sender_, topo_, targets_, *this);
  if (!r.sent_raw)
    APEX_LOG(debug, "cpu%u: %s IPI intercepted: %u posted, %u sent for real", sender_, delivery_mode_name(icr.delivery),
             r.posted, r.passed_on);
  if (r.dropped)
    APEX_LOG_GUEST(error, "cpu%u: %s IPI dropped: a target's mailbox is full", sender_, delivery_mode_name(icr.delivery));
  return r;
}

void XapicPort::send_nmi(uint32_t apic_id) { send(apic_id << 24, 4u << 8); }

void XapicPort::send_raw(uint64_t icr_value) {
  regs_.write(xapic::icr_high, static_cast<uint32_t>(icr_value >> 32));
  regs_.write(xapic::icr_low, static_cast<uint32_t>(icr_value));
}

void XapicPort::send_to(const Icr& icr, uint32_t apic_id) { send(apic_id << 24, encode_icr_low_physical(icr)); }

// Writes ICR high then low (the low write sends), waits for the send to leave the APIC
// (bounded), and puts the guest's ICR high back.
void XapicPort::send(uint32_t high, uint32_t low) {
  const uint32_t guest_high = regs_.read(xapic::icr_high);
  regs_.write(xapic::icr_high, high);
  regs_.write(xapic::icr_low, low);
  for (unsigned spin = 0; spin < 100000 && (regs_.read(xapic::icr_low) & xapic::kIcrDeliveryPending); ++spin)
    arch::cpu_pause();
  regs_.write(xapic::icr_high, guest_high);
}

}  // namespace vmm::apic
