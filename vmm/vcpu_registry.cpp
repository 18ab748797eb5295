#include "vmm/vcpu_registry.hpp"

namespace vmm {
namespace {

// Written with release and read with acquire, so a reader on another CPU that sees the
// pointer also sees the vCPU as it was when it was registered.
Vcpu* g_vcpus[kMaxCpus];
unsigned g_count;

}  // namespace

bool register_vcpu(Vcpu* vcpu) {
  if (!vcpu || vcpu->index >= kMaxCpus) return false;
  Vcpu* expected = nullptr;
  if (__atomic_compare_exchange_n(&g_vcpus[vcpu->index], &expected, vcpu, false, __ATOMIC_RELEASE,
                                  __ATOMIC_ACQUIRE)) {
    __atomic_add_fetch(&g_count, 1u, __ATOMIC_RELEASE);
    return true;
  }
  return expected == vcpu;
}

Vcpu* vcpu_by_index(uint64_t index) {
  return index < kMaxCpus ? __atomic_load_n(&g_vcpus[index], __ATOMIC_ACQUIRE) : nullptr;
}

unsigned vcpu_count() { return __atomic_load_n(&g_count, __ATOMIC_ACQUIRE); }

void reset_vcpu_registry() {
  for (Vcpu*& slot : g_vcpus) __atomic_store_n(&slot, nullptr, __ATOMIC_RELEASE);
  __atomic_store_n(&g_count, 0u, __ATOMIC_RELEASE);
}

}  // namespace vmm
