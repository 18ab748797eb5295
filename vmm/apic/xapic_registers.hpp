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
constexpr const Register* register_at(unsigned offset) {
  const unsigned reg = offset & 0xff0;
  if (offset >= 0x1000 || (offset & 0xf) >= 4) return nullptr;  // bytes 4..15 of a slot are reserved
  for (const Register& r : kRegisters)
    if (reg >= r.offset && reg < r.offset + 16 * r.count) return &r;
  return nullptr;
}
}  // namespace xapic

// One CPU's real local APIC in xAPIC mode, by register offset: MMIO in the image
// (vmm/apic/mmio_xapic.hpp), an array in the tests. Reads and writes are whole 32-bit registers.
class XapicRegisters {
 public:
  virtual uint32_t read(unsigned offset) = 0;
  virtual void write(unsigned offset, uint32_t value) = 0;

 protected:
  ~XapicRegisters() = default;
};

}  // namespace vmm::apic
