// Outcomes of building and changing the EPT identity map, with names for the log.
#pragma once
#include <stdint.h>

namespace vmm::ept {

#define APEX_EPT_STATUSES(X)                                                                      \
  X(ok, "ok")                                                                                     \
  X(out_of_memory, "the page allocator ran out of pages for EPT tables")                          \
  X(already_built, "the identity map was already built")                                          \
  X(not_built, "the identity map has not been built")                                             \
  X(invalid_range, "empty range, or one that wraps past 2^64")                                    \
  X(beyond_guest_width, "range ends above 2^48 (2^57 with a 5-level walk), what an EPT walk translates (SDM 29.3.2)") \
  X(beyond_maxphyaddr, "range ends above 2^MAXPHYADDR: the identity HPA would be reserved bits")  \
  X(not_mapped, "part of the range lies outside the identity map")                                \
  X(hidden_page, "part of the range is hypervisor memory hidden from the guest")                  \
  X(invalid_permissions, "write without read, or execute-only unsupported (EPT misconfiguration, SDM 29.3.3.1)")

enum class EptStatus : uint8_t {
#define APEX_X(name, text) name,
  APEX_EPT_STATUSES(APEX_X)
#undef APEX_X
};

const char* ept_status_name(EptStatus s);  // "out_of_memory"
const char* ept_status_text(EptStatus s);  // the explanation above

}  // namespace vmm::ept
