#include "boot/runtime_copy.hpp"

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

extern "C" void* memcpy(void*, const void*, size_t);

// From gnu-efi's linker script: the image's load address and its ELF dynamic section.
extern "C" char ImageBase[];
extern "C" Elf64_Dyn _DYNAMIC[];

namespace boot {
namespace {

EFI_GUID g_loaded_image_guid = LOADED_IMAGE_PROTOCOL;
uint64_t g_image_size = 0;
const char* g_copy_failure = nullptr;

// gnu-efi's crt0 applied every R_X86_64_RELATIVE relocation for the load address (value +=
// base). Moving the image by `delta` is the same operation again with the delta.
bool rebase(uint8_t* copy, int64_t delta) {
  const Elf64_Rela* rela = nullptr;
  uint64_t rela_size = 0, rela_ent = sizeof(Elf64_Rela);
  for (const Elf64_Dyn* d = _DYNAMIC; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_RELA) rela = reinterpret_cast<const Elf64_Rela*>(copy + d->d_un.d_ptr);
    else if (d->d_tag == DT_RELASZ) rela_size = d->d_un.d_val;
    else if (d->d_tag == DT_RELAENT) rela_ent = d->d_un.d_val;
  }
  if (!rela) return rela_size == 0;
  for (uint64_t off = 0; off < rela_size; off += rela_ent) {
    const auto* r = reinterpret_cast<const Elf64_Rela*>(reinterpret_cast<const uint8_t*>(rela) + off);
    if (ELF64_R_TYPE(r->r_info) == R_X86_64_NONE) continue;
    if (ELF64_R_TYPE(r->r_info) != R_X86_64_RELATIVE) return false;
    *reinterpret_cast<uint64_t*>(copy + r->r_offset) += static_cast<uint64_t>(delta);
  }
  return true;
}

}  // namespace

uint64_t image_base() { return reinterpret_cast<uint64_t>(ImageBase); }
uint64_t image_size() { return g_image_size; }

uint64_t run_in_hypervisor_image(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, vmm::CapturedFn main, void* arg) {
  EFI_LOADED_IMAGE* li = nullptr;
  EFI_BOOT_SERVICES* bs = st->BootServices;
  if (EFI_ERROR(bs->HandleProtocol(image, &g_loaded_image_guid, reinterpret_cast<void**>(&li)))) {
    g_copy_failure = "no EFI_LOADED_IMAGE_PROTOCOL";
    return apex_call_capturing(main, arg);
  }
  uint64_t size = li->ImageSize;
  EFI_PHYSICAL_ADDRESS dest = 0;
  if (EFI_ERROR(bs->AllocatePages(AllocateAnyPages, EfiRuntimeServicesCode, (size + 4095) / 4096, &dest))) {
    g_image_size = size;
    g_copy_failure = "out of runtime memory";
    return apex_call_capturing(main, arg);
  }
  auto* copy = reinterpret_cast<uint8_t*>(dest);
  memcpy(copy, ImageBase, size);
  int64_t delta = static_cast<int64_t>(dest) - static_cast<int64_t>(image_base());
  if (!rebase(copy, delta)) {
    bs->FreePages(dest, (size + 4095) / 4096);
    g_image_size = size;
    g_copy_failure = "unexpected relocation type";
    return apex_call_capturing(main, arg);
  }
  // The copy's globals: record its size there, then enter the copy. (It records itself as
  // hypervisor memory: the range table is the copy's.)
  auto* copy_size = reinterpret_cast<uint64_t*>(reinterpret_cast<uint8_t*>(&g_image_size) + delta);
  *copy_size = size;
  auto copied_main = reinterpret_cast<vmm::CapturedFn>(reinterpret_cast<uint8_t*>(main) + delta);
  return apex_call_capturing(copied_main, arg);
}

const char* runtime_copy_failure() { return g_copy_failure; }

}  // namespace boot
