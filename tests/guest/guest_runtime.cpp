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

void end_run_without_firmware(unsigned exit_code) {
  const char end[] = "apexvisor-test: end\n";
  emit(end, sizeof end - 1);
  arch::outl(0xf4, exit_code);
  arch::bochs_magic_break();
  arch::cli();
  for (;;) arch::cpu_halt();
}

bool find_mp_services(EFI_SYSTEM_TABLE* st, MpServices* out) {
  EFI_GUID guid = efi::kMpServicesGuid;
  void* iface = nullptr;
  if (EFI_ERROR(st->BootServices->LocateProtocol(&guid, nullptr, &iface)) || !iface) return false;
  out->mp = static_cast<efi::MpServicesProtocol*>(iface);
  UINTN enabled = 0;
  out->total = out->self = 0;
  out->mp->get_number_of_processors(out->mp, &out->total, &enabled);
  out->mp->who_am_i(out->mp, &out->self);
  return true;
}

MemoryMap::MemoryMap(EFI_BOOT_SERVICES* bs) : bs_(bs) {
  UINTN key = 0;
  UINT32 version = 0;
  bs->GetMemoryMap(&size_, nullptr, &key, &desc_size_, &version);
  size_ += 8 * desc_size_;  // the pool allocation below may add entries
  if (EFI_ERROR(bs->AllocatePool(EfiLoaderData, size_, &buf_))) {
    buf_ = nullptr;
    return;
  }
  if (EFI_ERROR(bs->GetMemoryMap(&size_, static_cast<EFI_MEMORY_DESCRIPTOR*>(buf_), &key, &desc_size_, &version))) {
    bs->FreePool(buf_);
    buf_ = nullptr;
  }
}

MemoryMap::~MemoryMap() {
  if (buf_) bs_->FreePool(buf_);
}

}  // namespace guest
