#include "vmm/apic/ap_start_mode.hpp"

namespace vmm::apic {
namespace {
ApStartMode g_mode = ApStartMode::native;
}

void set_ap_start_mode(ApStartMode mode) { g_mode = mode; }
ApStartMode ap_start_mode() { return g_mode; }
const char* ap_start_mode_name(ApStartMode mode) { return mode == ApStartMode::intercept ? "intercept" : "native"; }

}  // namespace vmm::apic
