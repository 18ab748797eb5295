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

void vsay_as(const char* prefix, const char* fmt, va_list ap) {
  if (!g_serial.port()) g_serial.init(0x3f8);  // programs that print before init()
  char line[512];
  size_t n = vmm::format(line, sizeof line, "%s", prefix);
  n += vmm::vformat(line + n, sizeof line - n, fmt, ap);
  if (n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  emit(line, n);
}

void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay_as("apexvisor-guest: ", fmt, ap);
  va_end(ap);
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
