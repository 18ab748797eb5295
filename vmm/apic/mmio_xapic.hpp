// This CPU's real xAPIC through its MMIO page (identity-mapped in the host page tables).
// Image only: in the host tests the address would not be an APIC.
#pragma once
#include "vmm/apic/xapic_registers.hpp"

namespace vmm::apic {

class MmioXapic final : public XapicRegisters {
 public:
  explicit MmioXapic(uint64_t base) : base_(base & ~0xfffull) {}
  uint32_t read(unsigned offset) override { return *reinterpret_cast<volatile uint32_t*>(base_ + offset); }
  void write(unsigned offset, uint32_t value) override {
    *reinterpret_cast<volatile uint32_t*>(base_ + offset) = value;
  }
  void copy_registers(unsigned offset, unsigned count, uint32_t* dst) override {
    const auto* src = reinterpret_cast<const volatile uint32_t*>(base_ + offset);
#pragma GCC unroll 8
    for (unsigned k = 0; k < count; ++k) dst[4 * k] = src[4 * k];
  }

 private:
  uint64_t base_;
};

}  // namespace vmm::apic
