// The hypervisor's own image is out of the guest's reach (issue P8, design.md "Nothing that
// runs as a guest writes hypervisor memory"). apexvisor runs from a copy of its image in
// EfiRuntimeServicesCode memory; once the CPUs are launched the EPT hides it, so a guest that
// walks the memory map and reads every runtime-code page must not find it. The banner string
// is in the image's read-only data; the loader the firmware started (EfiLoaderCode, guest
// memory) has it too, which is why only runtime code is searched.
#include <stddef.h>
#include <stdint.h>

#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"

namespace guest {
namespace {

constexpr char kNeedle[] = "VMX micro-hypervisor with APX guest support";
constexpr size_t kNeedleLen = sizeof kNeedle - 1;

bool page_is_zero(const uint8_t* page) {
  for (size_t i = 0; i < 4096; ++i)
    if (page[i]) return false;
  return true;
}

bool page_holds_needle(const uint8_t* page) {
  for (size_t i = 0; i + kNeedleLen <= 4096; ++i) {
    if (page[i] != static_cast<uint8_t>(kNeedle[0])) continue;
    size_t k = 1;
    while (k < kNeedleLen && page[i + k] == static_cast<uint8_t>(kNeedle[k])) ++k;
    if (k == kNeedleLen) return true;
  }
  return false;
}

}  // namespace

void run_isolation_checks(Tally& t, EFI_SYSTEM_TABLE* st) {
  const MemoryMap map(st->BootServices);
  t.check(map.ok(), "the memory map for the isolation checks");
  uint64_t pages = 0, found_at = 0, zero_pages = 0, discarded_at = 0;
  if (map.ok()) {
    for (UINTN i = 0; i < map.count(); ++i) {
      const EFI_MEMORY_DESCRIPTOR* d = &map.at(i);
      if (d->Type != EfiRuntimeServicesCode) continue;
      for (uint64_t p = 0; p < d->NumberOfPages; ++p, ++pages) {
        const uint64_t addr = d->PhysicalStart + 4096 * p;
        auto* page = reinterpret_cast<volatile uint8_t*>(addr);
        if (!found_at && page_holds_needle(const_cast<const uint8_t*>(page))) found_at = addr;
        // A page of runtime code that reads all zeros is hypervisor memory (the EPT maps it
        // to a zero page), unless the firmware left it empty: write and read back. Hypervisor
        // memory discards the write and the guest goes on; firmware memory keeps it (undone).
        if (discarded_at || !page_is_zero(const_cast<const uint8_t*>(page))) continue;
        ++zero_pages;
        page[7] = 0x5a;
        if (page[7] == 0) discarded_at = addr;
        else page[7] = 0;
      }
    }
  }
  t.check(pages > 0 && found_at == 0, "no runtime-code page the guest can read holds the hypervisor's image",
          "%llu pages searched, the banner found at 0x%llx", pages, found_at);
  t.check(discarded_at != 0, "a write into hypervisor memory is discarded and the guest goes on",
          "%llu zero pages tried, none discarded the write (0x%llx)", zero_pages, discarded_at);
}

}  // namespace guest
