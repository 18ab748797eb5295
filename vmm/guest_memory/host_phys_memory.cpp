#include "vmm/guest_memory/host_phys_memory.hpp"

#include <stddef.h>  // offsetof

#include "vmm/host/host_cpu.hpp"
#include "vmm/vcpu.hpp"

extern "C" void* memcpy(void*, const void*, size_t);

namespace vmm::guest_memory {

PhysStatus HostPhysMemory::read(uint64_t gpa, void* dst, size_t bytes) {
  if (!visible_(gpa)) return PhysStatus::bad_gpa;
  memcpy(dst, reinterpret_cast<const void*>(gpa), bytes);
  return PhysStatus::ok;
}

PhysStatus HostPhysMemory::write(uint64_t gpa, const void* src, size_t bytes) {
  if (!visible_(gpa)) return PhysStatus::bad_gpa;
  memcpy(reinterpret_cast<void*>(gpa), src, bytes);
  return PhysStatus::ok;
}

namespace {

// LOCK CMPXCHG of one access size on the host's identity mapping; the value found in memory
// goes to *observed.
template <typename T>
PhysStatus cmpxchg_as(uint64_t gpa, uint64_t expected, uint64_t desired, uint64_t* observed) {
  T e = static_cast<T>(expected);
  __atomic_compare_exchange_n(reinterpret_cast<T*>(gpa), &e, static_cast<T>(desired), false, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
  *observed = e;
  return PhysStatus::ok;
}

}  // namespace

PhysStatus HostPhysMemory::cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                   uint64_t* observed) {
  if (!visible_(gpa)) return PhysStatus::bad_gpa;
  switch (bytes) {
    case 1: return cmpxchg_as<uint8_t>(gpa, expected, desired, observed);
    case 2: return cmpxchg_as<uint16_t>(gpa, expected, desired, observed);
    case 4: return cmpxchg_as<uint32_t>(gpa, expected, desired, observed);
    case 8: return cmpxchg_as<uint64_t>(gpa, expected, desired, observed);
  }
  return PhysStatus::bad_gpa;
}

ExitContext* this_cpu_exit() {
  // One GS-relative load of HostCpu::vcpu (no RDMSR): GS.base is this CPU's HostCpu.
  Vcpu* vcpu = nullptr;
  asm volatile("movq %%gs:%c1, %0" : "=r"(vcpu) : "i"(offsetof(HostCpu, vcpu)));
  return vcpu ? vcpu->exit_context : nullptr;
}

}  // namespace vmm::guest_memory
