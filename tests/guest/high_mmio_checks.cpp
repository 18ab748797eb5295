// An access far above RAM (issue P9 item 4): a guest-physical address within MAXPHYADDR but
// far above the memory map — where 64-bit PCI BARs of GPUs and NVMe live on servers — must
// reach the platform as on bare hardware. There, with no device at the address, the read ends
// in a master abort and returns all ones (PCI Local Bus Spec 3.0, 6.2.5.1); Bochs, which has
// no device there either, answers the same (measured without apexvisor: 0xffffffffffffffff).
// An EPT that stops at the top of the memory map made this read an EPT violation that stopped
// the CPU.
//
// The firmware's page tables do not map that far (OVMF maps 2^36 on Bochs), so the check maps
// it itself, in a copy of the firmware's PML4 with one more entry: linear = physical, one 2 MiB
// page, PCD|PWT (uncached, as an OS maps MMIO). The copy is loaded into CR3 for the read only.
#include <stdint.h>

#include "arch/cpu.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"

namespace guest {
namespace {

constexpr uint64_t kP = 1, kRw = 2, kPwt = 8, kPcd = 16, kPs = 0x80;
constexpr uint64_t kAddr = 0x000ffffffffff000ull;
constexpr uint64_t kCr4La57 = 1ull << 12;

// MAXPHYADDR: CPUID.80000008H:EAX[7:0], 36 without that leaf (SDM Vol 3A 4.1.4).
unsigned max_phys_bits() {
  if (arch::cpuid(0x80000000).eax < 0x80000008) return 36;
  return arch::cpuid(0x80000008).eax & 0xff;
}

}  // namespace

void run_high_mmio_checks(Tally& t, EFI_SYSTEM_TABLE* st) {
  const unsigned bits = max_phys_bits();
  // 1 TiB - 4 KiB, or the last page below 2^MAXPHYADDR when that is lower.
  const uint64_t top = bits >= 40 ? 1ull << 40 : 1ull << bits;
  const uint64_t target = top - 0x1000;
  say("high MMIO: MAXPHYADDR %u, reading 0x%llx", bits, static_cast<unsigned long long>(target));
  if (arch::read_cr4() & kCr4La57) {
    t.check(false, "a read far above RAM returns all ones and the guest goes on", "the firmware runs with 5-level paging, which this check does not build");
    return;
  }
  EFI_PHYSICAL_ADDRESS pages = 0xffffffff;
  EFI_STATUS s = st->BootServices->AllocatePages(AllocateMaxAddress, EfiLoaderData, 3, &pages);
  t.check(!EFI_ERROR(s), "three pages for a page-table copy that maps the address", "status 0x%llx", s);
  if (EFI_ERROR(s)) return;
  auto* pml4 = reinterpret_cast<uint64_t*>(pages);
  auto* pdpt = reinterpret_cast<uint64_t*>(pages + 0x1000);
  auto* pd = reinterpret_cast<uint64_t*>(pages + 0x2000);
  const uint64_t old_cr3 = arch::read_cr3();
  const auto* fw_pml4 = reinterpret_cast<const uint64_t*>(old_cr3 & kAddr);
  for (unsigned i = 0; i < 512; ++i) {
    pml4[i] = fw_pml4[i];
    pdpt[i] = 0;
    pd[i] = 0;
  }
  const unsigned i4 = (target >> 39) & 511, i3 = (target >> 30) & 511, i2 = (target >> 21) & 511;
  // The firmware may map that 512 GiB already (not on OVMF/Bochs): then its PDPT is copied too.
  if (pml4[i4] & kP) {
    const auto* fw_pdpt = reinterpret_cast<const uint64_t*>(pml4[i4] & kAddr);
    for (unsigned i = 0; i < 512; ++i) pdpt[i] = fw_pdpt[i];
  }
  pd[i2] = (target & ~((1ull << 21) - 1)) | kP | kRw | kPs | kPcd | kPwt;
  pdpt[i3] = reinterpret_cast<uint64_t>(pd) | kP | kRw;
  pml4[i4] = reinterpret_cast<uint64_t>(pdpt) | kP | kRw;
  const uint64_t cr3 = (old_cr3 & ~kAddr) | reinterpret_cast<uint64_t>(pml4);
  uint64_t value = 0;
  asm volatile(
      "pushfq; cli\n\t"  // the firmware's timer handler must not run on the copy
      "mov %[cr3], %%cr3\n\t"
      "mov (%[at]), %[v]\n\t"
      "mov %[old], %%cr3\n\t"
      "popfq"
      : [v] "=&r"(value)
      : [cr3] "r"(cr3), [at] "r"(target), [old] "r"(old_cr3)
      : "memory", "cc");
  t.check(value == ~0ull, "a read far above RAM (1 TiB - 4 KiB, within MAXPHYADDR) returns all ones and the guest goes on",
          "read 0x%llx at 0x%llx", value, target);
  st->BootServices->FreePages(pages, 3);
}

}  // namespace guest
