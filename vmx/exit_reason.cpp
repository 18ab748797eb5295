#include "vmx/exit_reason.hpp"

namespace vmx {
namespace {
// Indexed by basic exit reason; holes are nullptr.
struct Names {
  const char* name[kExitReasonLimit];
};
constexpr Names make_names() {
  Names n{};
#define EXIT_REASON(num, nm) n.name[num] = #nm;
#include "vmx/exit_reasons.def"
  return n;
}
constexpr Names kNames = make_names();
}  // namespace

const char* exit_reason_name(uint16_t basic) {
  return basic < kExitReasonLimit ? kNames.name[basic] : nullptr;
}

bool exit_reason_known(uint16_t basic) { return exit_reason_name(basic) != nullptr; }

}  // namespace vmx
