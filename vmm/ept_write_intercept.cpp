#include "vmm/ept_write_intercept.hpp"

namespace vmm {
namespace {
EptWriteIntercept* g_owners[kMaxEptWriteIntercepts];
unsigned g_count;
}  // namespace

bool register_ept_write_intercept(EptWriteIntercept* owner) {
  if (!owner || g_count == kMaxEptWriteIntercepts) return false;
  g_owners[g_count++] = owner;
  return true;
}

EptWriteIntercept* find_ept_write_intercept(uint64_t gpa) {
  for (unsigned i = 0; i < g_count; ++i)
    if (g_owners[i]->covers(gpa)) return g_owners[i];
  return nullptr;
}

void reset_ept_write_intercepts() { g_count = 0; }

}  // namespace vmm
