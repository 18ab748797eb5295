#include "tests/guest/guest_runtime.hpp"

#include <stdarg.h>

#include "arch/cpu.hpp"
#include "boot/serial16550.hpp"
#include "vmm/log/format.hpp"

namespace guest {
namespace {
EFI_SYSTEM_TABLE* g_st = nullptr;
boot::Serial16550 g_serial;

void emit(const char* line, size_t n) {
  g_serial.write(line, n);
}
}  // namespace

void init(EFI_HANDLE, EFI_SYSTEM_TABLE* st) {
  g_st = st;
  g_serial.init(0x3f8);
  // The firmware's console may have left a line unterminated on the same UART.
  emit("\n", 1);
}

void say(const char* fmt, ...) {
  char line[256];
  size_t n = vmm::format(line, sizeof line, "apexvisor-guest: ");
  va_list ap;
  va_start(ap, fmt);
  n += vmm::vformat(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  emit(line, n);
}

void end_run(unsigned exit_code) {
  const char end[] = "apexvisor-test: end\n";
  emit(end, sizeof end - 1);
  arch::outl(0xf4, exit_code);  // QEMU isa-debug-exit: exits with (code << 1) | 1
  arch::bochs_magic_break();
  g_st->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, nullptr);
  for (;;) arch::cpu_halt();
}

}  // namespace guest
