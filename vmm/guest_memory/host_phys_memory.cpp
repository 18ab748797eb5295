#include "vmm/guest_memory/host_phys_memory.hpp"

extern "C" void* memcpy(void*, const void*, size_t);

namespace vmm::guest_memory {

PhysStatus HostPhysMemory::read(uint64_t gpa, void* dst, size_t bytes) {
  if (in_mmio(gpa)) return mmio_->read(gpa, dst, bytes);
  if (!visible_(gpa)) return PhysStatus::bad_gpa;
  memcpy(dst, reinterpret_cast<const void*>(gpa), bytes);
  return PhysStatus::ok;
}

PhysStatus HostPhysMemory::write(uint64_t gpa, const void* src, size_t bytes) {
  if (in_mmio(gpa)) return mmio_->write(gpa, src, bytes);
  if (!visible_(gpa)) return PhysStatus::bad_gpa;
  memcpy(reinterpret_cast<void*>(gpa), src, bytes);
  return PhysStatus::ok;
}

PhysStatus HostPhysMemory::cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                   uint64_t* observed) {
  if (in_mmio(gpa) || !visible_(gpa)) return PhysStatus::bad_gpa;
  // LOCK CMPXCHG of the access size on the host's identity mapping.
  switch (bytes) {
    case 1: {
      auto* p = reinterpret_cast<uint8_t*>(gpa);
      uint8_t e = static_cast<uint8_t>(expected);
      __atomic_compare_exchange_n(p, &e, static_cast<uint8_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      *observed = e;
      return PhysStatus::ok;
    }
    case 2: {
      auto* p = reinterpret_cast<uint16_t*>(gpa);
      uint16_t e = static_cast<uint16_t>(expected);
      __atomic_compare_exchange_n(p, &e, static_cast<uint16_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      *observed = e;
      return PhysStatus::ok;
    }
    case 4: {
      auto* p = reinterpret_cast<uint32_t*>(gpa);
      uint32_t e = static_cast<uint32_t>(expected);
      __atomic_compare_exchange_n(p, &e, static_cast<uint32_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      *observed = e;
      return PhysStatus::ok;
    }
    case 8: {
      auto* p = reinterpret_cast<uint64_t*>(gpa);
      uint64_t e = expected;
      __atomic_compare_exchange_n(p, &e, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      *observed = e;
      return PhysStatus::ok;
    }
  }
  return PhysStatus::bad_gpa;
}

}  // namespace vmm::guest_memory
