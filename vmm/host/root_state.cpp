#include "vmm/host/root_state.hpp"

#include "vmm/vcpu_registry.hpp"

namespace vmm {

bool in_root(unsigned cpu) {
  const Vcpu* v = vcpu_by_index(cpu);
  return v && __atomic_load_n(&v->in_root, __ATOMIC_RELAXED);
}

}  // namespace vmm
