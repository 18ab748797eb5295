// Guest-physical memory where nothing answers: the last answer to an access above RAM that the
// EPT could not map on demand because its table pool ran dry (vmm/handlers/ept_violation.cpp).
// On hardware an access that no device claims ends in a master abort: a read returns all ones,
// a write is dropped (PCI Local Bus Spec 3.0, 6.2.5.1; what Linux's drivers test for with
// `readl() == ~0`). Pages the underlying view refuses (bad_gpa: not RAM) get that answer;
// everything else (the instruction's stack, its other operands in RAM) goes through `inner`.
#pragma once
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm::guest_memory {

class NoDeviceMemory final : public GuestPhysMemory {
 public:
  explicit NoDeviceMemory(GuestPhysMemory* inner) : inner_(inner) {}

  PhysStatus read(uint64_t gpa, void* dst, size_t bytes) override {
    if (inner_->probe(gpa) == PhysStatus::ok) return inner_->read(gpa, dst, bytes);
    auto* out = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < bytes; ++i) out[i] = 0xff;
    return PhysStatus::ok;
  }
  PhysStatus write(uint64_t gpa, const void* src, size_t bytes) override {
    return write_at(kNoLinearAddress, gpa, src, bytes);
  }
  PhysStatus write_at(uint64_t linear, uint64_t gpa, const void* src, size_t bytes) override {
    if (inner_->probe(gpa) == PhysStatus::ok) return inner_->write_at(linear, gpa, src, bytes);
    return PhysStatus::ok;  // dropped
  }
  PhysStatus cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired, uint64_t* observed) override {
    return cmpxchg_at(kNoLinearAddress, gpa, bytes, expected, desired, observed);
  }
  PhysStatus cmpxchg_at(uint64_t linear, uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                        uint64_t* observed) override {
    if (inner_->probe(gpa) == PhysStatus::ok) return inner_->cmpxchg_at(linear, gpa, bytes, expected, desired, observed);
    *observed = bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;  // all ones read; the store is dropped
    return PhysStatus::ok;
  }
  PhysStatus probe(uint64_t) override { return PhysStatus::ok; }

 private:
  static constexpr uint64_t kNoLinearAddress = ~0ull;
  GuestPhysMemory* inner_;
};

}  // namespace vmm::guest_memory
