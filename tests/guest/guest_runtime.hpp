// Shared by the guest programs (UEFI apps chain-loaded after apexvisor, which check the
// hypervisor from inside): output to COM1 and the firmware console, and ending the run.
#pragma once
#include <stdarg.h>

#include "boot/efi/efi.hpp"

namespace guest {

void init(EFI_HANDLE image, EFI_SYSTEM_TABLE* st);
// One line, prefixed "apexvisor-guest: ".
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// One line with another prefix (each guest program names itself: "apexvisor-acpi: "...).
void vsay_as(const char* prefix, const char* fmt, va_list ap);
// The firmware's MP services with the number of processors and this CPU's number; false when
// the firmware has none.
struct MpServices {
  efi::MpServicesProtocol* mp;
  UINTN total, self;
};
bool find_mp_services(EFI_SYSTEM_TABLE* st, MpServices* out);
// The firmware's memory map, in pool memory (release()). ok() is false when it could not be
// read; count() descriptors, at(i) the i-th (lowest address first, as the firmware lists).
class MemoryMap {
 public:
  explicit MemoryMap(EFI_BOOT_SERVICES* bs);
  ~MemoryMap();
  bool ok() const { return buf_ != nullptr; }
  UINTN count() const { return desc_size_ ? size_ / desc_size_ : 0; }
  const EFI_MEMORY_DESCRIPTOR& at(UINTN i) const {
    return *reinterpret_cast<const EFI_MEMORY_DESCRIPTOR*>(static_cast<uint8_t*>(buf_) + i * desc_size_);
  }

 private:
  EFI_BOOT_SERVICES* bs_;
  void* buf_ = nullptr;
  UINTN size_ = 0, desc_size_ = 0;
};
// Prints "apexvisor-test: end" (the harness's end marker) and stops the machine: QEMU's
// isa-debug-exit, then the Bochs magic breakpoint, then ResetSystem(shutdown).
[[noreturn]] void end_run(unsigned exit_code);
// The same from code that may call no firmware service (an AP after the BSP was restarted):
// the end marker, isa-debug-exit and the Bochs magic breakpoint, then halted with interrupts
// off. The harness ends the run at the marker.
[[noreturn]] void end_run_without_firmware(unsigned exit_code);

}  // namespace guest
