#include "boot/firmware.hpp"

extern "C" void* memset(void*, int, size_t);

namespace boot {

namespace {
Firmware g_firmware;
uint64_t g_runtime_bytes = 0;
}  // namespace

Firmware& firmware() { return g_firmware; }

void* alloc_runtime_pages(size_t pages) {
  EFI_PHYSICAL_ADDRESS addr = 0;
  EFI_STATUS s = g_firmware.bs->AllocatePages(AllocateAnyPages, EfiRuntimeServicesData, pages, &addr);
  if (EFI_ERROR(s)) return nullptr;
  void* p = reinterpret_cast<void*>(addr);
  memset(p, 0, pages * 4096);
  g_runtime_bytes += pages * 4096;
  return p;
}

uint64_t runtime_bytes_allocated() { return g_runtime_bytes; }

void* alloc_pool(size_t bytes) {
  void* p = nullptr;
  if (EFI_ERROR(g_firmware.bs->AllocatePool(EfiLoaderData, bytes, &p))) return nullptr;
  return p;
}

void free_pool(void* p) {
  if (p) g_firmware.bs->FreePool(p);
}

void* read_variable(const char16_t* name, EFI_GUID* vendor, size_t* size) {
  UINTN n = 0;
  EFI_STATUS s = g_firmware.rt->GetVariable(efi::w(name), vendor, nullptr, &n, nullptr);
  if (s != EFI_BUFFER_TOO_SMALL) return nullptr;
  void* buf = alloc_pool(n);
  if (!buf) return nullptr;
  if (EFI_ERROR(g_firmware.rt->GetVariable(efi::w(name), vendor, nullptr, &n, buf))) {
    free_pool(buf);
    return nullptr;
  }
  *size = n;
  return buf;
}

}  // namespace boot
