// MTRR changes after launch: the EPT carries the memory types (apexvisor builds it from the
// MTRRs at boot, and with EPT the MTRRs themselves no longer decide: SDM Vol 3C 29.3.7.2), so a
// guest that reprograms its MTRRs must see apexvisor re-type the EPT. The guest marks a 2 MiB
// block of its own RAM uncacheable with a free variable-range pair, the way an OS does it
// (SDM Vol 3A 12.11.7.2: caches off, MTRRs off, write, MTRRs on, caches on), checks the
// MSRs read back and the memory still works, then undoes it the same way. No read or write
// can see a memory type, so the guest asks the hypervisor for the EPT leaf of pages in the
// block (hypercall 8, ept_page): UC under the new MTRR, the old type once it is removed.
// The hypervisor's side — "MTRRs changed ... EPT re-typed" — is in its log too.
#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "arch/msr.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/ept/mtrr.hpp"
#include "vmm/hypercall.hpp"

namespace guest {
namespace {

using vmm::ept::def_type::kEnable;  // IA32_MTRR_DEF_TYPE.E
using vmm::ept::physmask::kValid;   // IA32_MTRR_PHYSMASKn.V
constexpr uint64_t kTypeUc = static_cast<uint64_t>(vmm::ept::MemoryType::uc);
constexpr uint64_t kBlock = 2ull << 20;

uint32_t phys_base_msr(unsigned n) { return static_cast<uint32_t>(arch::Msr::IA32_MTRR_PHYSBASE0) + 2 * n; }
uint32_t phys_mask_msr(unsigned n) { return static_cast<uint32_t>(arch::Msr::IA32_MTRR_PHYSMASK0) + 2 * n; }

// CR3 written with itself: the non-global TLB entries go.
void flush_tlb() { arch::write_cr3(arch::read_cr3()); }

bool memory_works(uint64_t base) {
  auto* p = reinterpret_cast<volatile uint64_t*>(base);
  for (uint64_t off = 0; off < kBlock / 8; off += 4096 / 8) p[off] = base + off * 8;
  for (uint64_t off = 0; off < kBlock / 8; off += 4096 / 8)
    if (p[off] != base + off * 8) return false;
  return true;
}

// Pages in the block whose EPT type the checks read: first, middle, last.
constexpr uint64_t kProbe[] = {0, kBlock / 2, kBlock - 4096};
constexpr unsigned kProbes = sizeof kProbe / sizeof kProbe[0];

// The EPT memory type of each probe page (hypercall ept_page); false when a call fails or a
// page is not mapped readable as plain guest memory (unmapped, or hidden hypervisor memory).
// A failed page's type reads as kFailed.
constexpr uint64_t kFailed = ~0ull;
bool ept_types(uint64_t base, uint64_t* types) {
  using namespace vmm::ept_page_flag;
  bool ok = true;
  for (unsigned i = 0; i < kProbes; ++i) {
    const HypercallResult r = hypercall(8, base + kProbe[i]);
    const bool plain =
        r.fault == kNoFault && r.rax == 0 && (r.rcx & (mapped | read | write | hidden)) == (mapped | read | write);
    types[i] = plain ? r.rbx : kFailed;
    ok &= plain;
  }
  return ok;
}
bool all_equal(const uint64_t* a, const uint64_t* b) {
  for (unsigned i = 0; i < kProbes; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

}  // namespace

// SDM Vol 3A 12.11.7.2 "MemTypeSet": interrupts off, CD=1 NW=0, WBINVD, TLB flush, MTRRs off,
// write, WBINVD, TLB flush, MTRRs on, CD=0.
void set_variable_mtrr(unsigned n, uint64_t base, uint64_t mask) {
  const uint64_t flags = arch::read_rflags();
  arch::cli();
  const uint64_t cr0 = arch::read_cr0();
  arch::write_cr0((cr0 | arch::cr0::CD) & ~arch::cr0::NW);
  arch::wbinvd();
  flush_tlb();
  const uint64_t def = arch::rdmsr(arch::Msr::IA32_MTRR_DEF_TYPE);
  arch::wrmsr(arch::Msr::IA32_MTRR_DEF_TYPE, def & ~kEnable);
  arch::wrmsr(phys_base_msr(n), base);
  arch::wrmsr(phys_mask_msr(n), mask);
  arch::wbinvd();
  flush_tlb();
  arch::wrmsr(arch::Msr::IA32_MTRR_DEF_TYPE, def);
  arch::write_cr0(cr0);
  arch::write_rflags(flags);
}

void run_mtrr_checks(Tally& t, EFI_SYSTEM_TABLE* st) {
  if (!(arch::cpuid(1).edx & (1u << 12))) {
    say("SKIP MTRR change: this CPU has no MTRRs (CPUID.1:EDX[12]=0)");
    return;
  }
  if (!(arch::rdmsr(arch::Msr::IA32_MTRR_DEF_TYPE) & kEnable)) {
    say("SKIP MTRR change: the firmware left the MTRRs disabled");
    return;
  }
  const unsigned vcnt = arch::rdmsr(arch::Msr::IA32_MTRRCAP) & 0xff;
  unsigned n = 0;
  while (n < vcnt && (arch::rdmsr(phys_mask_msr(n)) & kValid)) ++n;
  if (n == vcnt) {
    say("SKIP MTRR change: all %u variable ranges are in use", vcnt);
    return;
  }
  // 2 MiB of our own RAM, 2 MiB aligned (an MTRR range is aligned to its size).
  EFI_PHYSICAL_ADDRESS mem = 0;
  EFI_STATUS s = st->BootServices->AllocatePages(AllocateAnyPages, EfiLoaderData, 2 * kBlock / 4096, &mem);
  t.check(!EFI_ERROR(s), "4 MiB of RAM for the MTRR change", "status 0x%llx", s);
  if (EFI_ERROR(s)) return;
  const uint64_t base = (mem + kBlock - 1) & ~(kBlock - 1);
  const auto ext = arch::cpuid(0x80000000).eax >= 0x80000008 ? arch::cpuid(0x80000008).eax & 0xff : 36;
  const uint64_t mask = (~(kBlock - 1) & ((1ull << ext) - 1) & ~0xfffull) | kValid;

  uint64_t before[kProbes] = {}, under[kProbes] = {}, after[kProbes] = {};
  const bool before_ok = ept_types(base, before);
  // Not UC already (the test would then show nothing): Bochs' firmware leaves RAM WB.
  t.check(before_ok && before[0] != kTypeUc && before[1] == before[0] && before[2] == before[0],
          "the block's pages are plain RAM in the EPT, one type, not UC yet (hypercall ept_page)", "type %llu, %llu",
          before[0], before[2]);
  say("MTRR change: variable pair %u makes 0x%llx+2 MiB uncacheable", n, static_cast<unsigned long long>(base));
  set_variable_mtrr(n, base | kTypeUc, mask);
  const uint64_t uc[kProbes] = {kTypeUc, kTypeUc, kTypeUc};
  // Read first: the detail arguments are evaluated in no set order with the condition.
  const bool under_uc = ept_types(base, under) && all_equal(under, uc);
  t.check(under_uc, "the EPT types the pages under the new uncacheable MTRR UC (hypercall ept_page)",
          "types %llu, %llu (first, last)", under[0], under[2]);
  t.check(arch::rdmsr(phys_base_msr(n)) == (base | kTypeUc) && arch::rdmsr(phys_mask_msr(n)) == mask,
          "a new variable MTRR reads back", "base 0x%llx mask 0x%llx", arch::rdmsr(phys_base_msr(n)),
          arch::rdmsr(phys_mask_msr(n)));
  t.check(memory_works(base), "memory under the new uncacheable MTRR reads what was written");
  set_variable_mtrr(n, 0, 0);
  t.check(!(arch::rdmsr(phys_mask_msr(n)) & kValid), "the variable MTRR is free again", "mask 0x%llx",
          arch::rdmsr(phys_mask_msr(n)));
  t.check(memory_works(base), "memory reads what was written after the MTRR is removed");
  const bool as_before = ept_types(base, after) && all_equal(after, before);
  t.check(as_before, "the EPT types the pages as before once the MTRR is removed (hypercall ept_page)",
          "type %llu, was %llu", after[0], before[0]);
  st->BootServices->FreePages(mem, 2 * kBlock / 4096);
}

}  // namespace guest
