#include "vmm/host/root_state.hpp"

namespace vmm {
namespace {
volatile bool g_in_root[kRootStateCpus];
}

void enter_root(unsigned cpu) {
  if (cpu < kRootStateCpus) g_in_root[cpu] = true;
}
void leave_root(unsigned cpu) {
  if (cpu < kRootStateCpus) g_in_root[cpu] = false;
}
bool in_root(unsigned cpu) { return cpu < kRootStateCpus && g_in_root[cpu]; }

}  // namespace vmm
