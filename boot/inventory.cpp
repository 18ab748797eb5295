#include "boot/inventory.hpp"

#include "arch/cpu.hpp"
#include "vmm/log/log.hpp"

extern "C" void* memcpy(void*, const void*, size_t);

namespace boot {

void log_cpu_identity() {
  auto l0 = arch::cpuid(0);
  char vendor[13];
  memcpy(vendor, &l0.ebx, 4);
  memcpy(vendor + 4, &l0.edx, 4);
  memcpy(vendor + 8, &l0.ecx, 4);
  vendor[12] = '\0';
  char brand[49] = "(no brand string)";
  if (arch::cpuid(0x80000000).eax >= 0x80000004) {
    for (uint32_t i = 0; i < 3; ++i) {
      auto r = arch::cpuid(0x80000002 + i);
      memcpy(brand + 16 * i, &r, 16);
    }
    brand[48] = '\0';
  }
  const char* b = brand;
  while (*b == ' ') ++b;
  // Family/model per SDM Vol 2A CPUID "Feature Information": extended fields apply for
  // family 6 and 15.
  uint32_t sig = arch::cpuid(1).eax;
  uint32_t family = (sig >> 8) & 0xf, model = (sig >> 4) & 0xf, stepping = sig & 0xf;
  if (family == 0xf) family += (sig >> 20) & 0xff;
  if (family == 0x6 || family >= 0xf) model |= ((sig >> 16) & 0xf) << 4;
  APEX_LOG(debug, "cpu: %s '%s' family 0x%x model 0x%x stepping %u", vendor, b, family, model, stepping);
}

}  // namespace boot
