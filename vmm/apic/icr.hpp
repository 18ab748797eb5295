// The local APIC's interrupt command register (SDM Vol 3A 11.6.1, Figure 11-12): what an
// IPI asks for. The xAPIC splits it in two 32-bit registers (ICR low at 0x300 sends, ICR
// high at 0x310 holds the destination in bits 31:24); the x2APIC has one 64-bit MSR (0x830)
// with a 32-bit destination in bits 63:32 (SDM 11.12.9).
#pragma once
#include <stdint.h>

namespace vmm::apic {

enum class DeliveryMode : uint8_t { fixed = 0, lowest = 1, smi = 2, nmi = 4, init = 5, startup = 6, reserved };
enum class Shorthand : uint8_t { none = 0, self = 1, all_including_self = 2, all_excluding_self = 3 };

struct Icr {
  uint8_t vector;
  DeliveryMode delivery;
  bool logical;       // destination mode: false physical, true logical
  bool level_assert;  // level bit 14: 0 = de-assert (only meaningful for INIT)
  bool level_trigger; // trigger mode bit 15
  Shorthand shorthand;
  uint32_t destination;  // xAPIC: 8-bit APIC id or logical mask; x2APIC: 32 bits
  bool x2apic;           // decoded from the x2APIC MSR: 32-bit destinations (SDM 11.12.10)

  // INIT with level de-assert and level trigger is the legacy "INIT level de-assert"
  // (SDM 11.6.1): it synchronises arbitration ids and starts nothing.
  constexpr bool is_init_deassert() const {
    return delivery == DeliveryMode::init && !level_assert && level_trigger;
  }
};

// xAPIC: `low` was written to 0x300, `high` is the current value at 0x310.
Icr decode_xapic_icr(uint32_t low, uint32_t high);
// x2APIC: the 64-bit value written to MSR 0x830.
Icr decode_x2apic_icr(uint64_t value);

// The low 32 bits of an ICR value for `icr` with no shorthand and physical destination:
// the same IPI re-aimed at one CPU by the caller's destination field.
uint32_t encode_icr_low_physical(const Icr& icr);

const char* delivery_mode_name(DeliveryMode m);

}  // namespace vmm::apic
