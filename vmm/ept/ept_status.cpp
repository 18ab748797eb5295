#include "vmm/ept/ept_status.hpp"

namespace vmm::ept {

const char* ept_status_name(EptStatus s) {
  switch (s) {
#define APEX_X(name, text) \
  case EptStatus::name: return #name;
    APEX_EPT_STATUSES(APEX_X)
#undef APEX_X
  }
  return "?";
}

const char* ept_status_text(EptStatus s) {
  switch (s) {
#define APEX_X(name, text) \
  case EptStatus::name: return text;
    APEX_EPT_STATUSES(APEX_X)
#undef APEX_X
  }
  return "?";
}

}  // namespace vmm::ept
