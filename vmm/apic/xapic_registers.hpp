// xAPIC register offsets and how each is mirrored on the virtual-APIC page, generated from
// xapic_registers.def (the one table), and the interface to one CPU's real xAPIC registers.
#pragma once
#include <stdint.h>

namespace vmm::apic {

namespace xapic {
#define XAPIC_REGISTER(name, offset, count, mirror) inline constexpr unsigned name = offset;
#include "vmm/apic/xapic_registers.def"
#undef XAPIC_REGISTER

inline constexpr uint32_t kIcrDeliveryPending = 1u << 12;  // ICR low: send pending (SDM 11.6.1)

enum class Mirror : uint8_t { software, hardware, tpr, write_only, icr_low, exits };

struct Register {
  const char* name;
  unsigned offset;
  unsigned count;
  Mirror mirror;
};

inline constexpr Register kRegisters[] = {
#define XAPIC_REGISTER(name, offset, count, mirror) {#name, offset, count, Mirror::mirror},
#include "vmm/apic/xapic_registers.def"
#undef XAPIC_REGISTER
};

// The table row of the register at `offset` (any byte of it), or null for a reserved offset.
// kRegisters by 16-byte slot of the page (index + 1; 0: no register there), built from the
// table at compile time so that register_at() — run after every guest APIC write — is one
// load instead of a search.
struct SlotIndex {
  uint8_t by_slot[256] = {};
  constexpr SlotIndex() {
    for (unsigned i = 0; i < sizeof kRegisters / sizeof kRegisters[0]; ++i)
      for (unsigned k = 0; k < kRegisters[i].count; ++k) by_slot[kRegisters[i].offset / 16 + k] = static_cast<uint8_t>(i + 1);
  }
};
inline constexpr SlotIndex kSlotIndex;
static_assert(sizeof kRegisters / sizeof kRegisters[0] < 255);

constexpr const Register* register_at(unsigned offset) {
  if (offset >= 0x1000 || (offset & 0xf) >= 4) return nullptr;  // bytes 4..15 of a slot are reserved
  const uint8_t i = kSlotIndex.by_slot[offset >> 4];
  return i ? &kRegisters[i - 1] : nullptr;
}
}  // namespace xapic

// One CPU's real local APIC in xAPIC mode, by register offset: MMIO in the image
// (vmm/apic/mmio_xapic.hpp), an array in the tests. Reads and writes are whole 32-bit registers.
class XapicRegisters {
 public:
  virtual uint32_t read(unsigned offset) = 0;
  virtual void write(unsigned offset, uint32_t value) = 0;
  // `count` consecutive registers from `offset` (16 bytes apart), each into dst[4 * k]: the
  // page's own layout, so `dst` may point into a virtual-APIC page. One call for the block
  // every APIC exit copies (ISR, TMR, IRR; vmm/apic/virtual_apic.cpp).
  virtual void copy_registers(unsigned offset, unsigned count, uint32_t* dst) = 0;

 protected:
  ~XapicRegisters() = default;
};

}  // namespace vmm::apic
