// How guest APs are started on this machine (config init_sipi=, chosen once at boot; the
// selftest asks through hypercall 4 which checks apply).
#pragma once
#include <stdint.h>

namespace vmm::apic {

enum class ApStartMode : uint8_t {
  native = 0,     // INIT/SIPI VM exits and the emulated wait-for-SIPI (vmm/handlers/init_sipi)
  intercept = 1,  // ICR writes intercepted, INIT/STARTUP emulated (ap_start.hpp)
};

void set_ap_start_mode(ApStartMode mode);
ApStartMode ap_start_mode();
const char* ap_start_mode_name(ApStartMode mode);

}  // namespace vmm::apic
