#include "vmm/apic/icr.hpp"

namespace vmm::apic {
namespace {

Icr decode_low(uint32_t low) {
  Icr icr{};
  icr.vector = static_cast<uint8_t>(low & 0xff);
  uint8_t mode = (low >> 8) & 7;
  icr.delivery = (mode == 3 || mode == 7) ? DeliveryMode::reserved : static_cast<DeliveryMode>(mode);
  icr.logical = low & (1u << 11);
  icr.level_assert = low & (1u << 14);
  icr.level_trigger = low & (1u << 15);
  icr.shorthand = static_cast<Shorthand>((low >> 18) & 3);
  return icr;
}

}  // namespace

Icr decode_xapic_icr(uint32_t low, uint32_t high) {
  Icr icr = decode_low(low);
  icr.destination = high >> 24;
  return icr;
}

Icr decode_x2apic_icr(uint64_t value) {
  Icr icr = decode_low(static_cast<uint32_t>(value));
  icr.destination = static_cast<uint32_t>(value >> 32);
  icr.x2apic = true;
  return icr;
}

uint32_t encode_icr_low_physical(const Icr& icr) {
  return icr.vector | (static_cast<uint32_t>(icr.delivery) << 8) | (icr.level_assert ? 1u << 14 : 0) |
         (icr.level_trigger ? 1u << 15 : 0);
}

const char* delivery_mode_name(DeliveryMode m) {
  switch (m) {
    case DeliveryMode::fixed: return "fixed";
    case DeliveryMode::lowest: return "lowest-priority";
    case DeliveryMode::smi: return "SMI";
    case DeliveryMode::nmi: return "NMI";
    case DeliveryMode::init: return "INIT";
    case DeliveryMode::startup: return "STARTUP";
    default: return "reserved";
  }
}

}  // namespace vmm::apic
