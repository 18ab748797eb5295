// What the loader reports about the machine before touching VMX.
#pragma once

namespace boot {

// Logs CPU vendor, brand, family/model/stepping.
void log_cpu_identity();

}  // namespace boot
