// The hostile guest (issue P8): chain-loaded after apexvisor, it attacks the hypervisor from
// inside in every way P8 names and prints one PASS/FAIL line per attack, comparing what it saw
// with the defined answer (README, "What a guest can and cannot do"):
//   hypervisor memory reads zeros, a write there is discarded (the guest goes on), a fetch
//   gets the zero page; MSRs that make hardware write memory or belong to an outer hypervisor
//   raise #GP; MTRRs are the guest's own (virtual); emulated writes that run into hypervisor
//   memory are discarded there too; hypercall arguments out of range get their error status
//   or #UD; guest-caused log lines are rate-limited; a GDT, LDT or IDT placed in hypervisor
//   memory reads zeros, as a table of zeros would on hardware (attack_tables.cpp).
// Then it checks that the hypervisor still works and that its code is byte for byte the code
// in apexvisor.efi (hypercall code_checksum against the file's .text).
#include <stddef.h>
#include <stdint.h>

#include "arch/cpu.hpp"
#include "arch/msr.hpp"
#include "boot/esp_files.hpp"
#include "boot/firmware.hpp"
#include "tests/guest/attack_tables.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/code_checksum.hpp"
#include "vmm/ept/mtrr.hpp"
#include "vmm/log/format.hpp"

namespace guest {
namespace {

constexpr uint64_t kPage = 4096;
constexpr int kGP = 13, kUD = 6, kDB = 1;
constexpr uint64_t kEptViolation = 48;  // basic exit reason (hypercall exit_counter)

// ---- where the hypervisor is: runtime pages that read zeros and drop a write ----------------

struct Range {
  uint64_t base, pages;
  bool code;  // in EfiRuntimeServicesCode (executable in the firmware's page tables)
};
struct HypervisorPages {
  Range ranges[64];
  unsigned count = 0;
  uint64_t pages = 0;
  bool contains(uint64_t a) const {
    for (unsigned i = 0; i < count; ++i)
      if (a >= ranges[i].base && a - ranges[i].base < ranges[i].pages * kPage) return true;
    return false;
  }
  uint64_t first_below_4g() const {  // for a 32-bit table base
    for (unsigned i = 0; i < count; ++i)
      if (ranges[i].base < (1ull << 32) - kPage) return ranges[i].base;
    return 0;
  }
  uint64_t first_code_page() const {
    for (unsigned i = 0; i < count; ++i)
      if (ranges[i].code) return ranges[i].base;
    return 0;
  }
  void add(uint64_t page, bool code) {
    ++pages;
    if (count && ranges[count - 1].base + ranges[count - 1].pages * kPage == page) {
      ++ranges[count - 1].pages;
      return;
    }
    if (count < 64) ranges[count++] = {page, 1, code};
  }
};

bool page_is_zero(uint64_t page) {
  auto* p = reinterpret_cast<const volatile uint64_t*>(page);
  for (size_t i = 0; i < kPage / 8; ++i)
    if (p[i]) return false;
  return true;
}

constexpr char kBanner[] = "VMX micro-hypervisor with APX guest support";

bool page_holds_banner(uint64_t page) {
  auto* p = reinterpret_cast<const volatile char*>(page);
  const size_t n = sizeof kBanner - 1;
  for (size_t i = 0; i + n <= kPage; ++i) {
    size_t k = 0;
    while (k < n && p[i + k] == kBanner[k]) ++k;
    if (k == n) return true;
  }
  return false;
}

// Every runtime page (code and data) read; each all-zero page written once and read back: a
// page that drops the write is the hypervisor's. A firmware page keeps it and gets its zero
// back at once.
void scan_runtime_memory(Tally& t, EFI_SYSTEM_TABLE* st, HypervisorPages& hv) {
  const MemoryMap map(st->BootServices);
  uint64_t scanned = 0, banner_at = 0;
  if (map.ok())
    for (UINTN i = 0; i < map.count(); ++i) {
      const EFI_MEMORY_DESCRIPTOR& d = map.at(i);
      if (d.Type != EfiRuntimeServicesCode && d.Type != EfiRuntimeServicesData) continue;
      for (uint64_t p = 0; p < d.NumberOfPages; ++p, ++scanned) {
        const uint64_t page = d.PhysicalStart + p * kPage;
        if (!banner_at && page_holds_banner(page)) banner_at = page;
        if (!page_is_zero(page)) continue;
        auto* b = reinterpret_cast<volatile uint8_t*>(page + 7);
        *b = 0x5a;
        if (*b == 0) hv.add(page, d.Type == EfiRuntimeServicesCode);
        else *b = 0;
      }
    }
  t.check(map.ok() && hv.pages > 0, "scan: runtime memory holds hypervisor pages (reads zeros, drops a write)",
          "%llu runtime pages scanned, %llu such pages", scanned, hv.pages);
  t.check(scanned > 0 && banner_at == 0, "scan: no runtime page the guest can read holds the hypervisor's image",
          "the banner found at 0x%llx", banner_at);
}

// Writes of each size at the first, a middle and the last bytes of every hypervisor page: all
// discarded, the page still reads zeros, the guest goes on.
void attack_writes(Tally& t, const HypervisorPages& hv) {
  uint64_t kept_at = 0, writes = 0;
  for (unsigned r = 0; r < hv.count; ++r)
    for (uint64_t p = 0; p < hv.ranges[r].pages; ++p) {
      const uint64_t page = hv.ranges[r].base + p * kPage;
      *reinterpret_cast<volatile uint8_t*>(page) = 0xa5;
      *reinterpret_cast<volatile uint32_t*>(page + 2048) = 0xdeadbeef;
      *reinterpret_cast<volatile uint64_t*>(page + kPage - 8) = ~0ull;
      writes += 3;
      if (!kept_at && !page_is_zero(page)) kept_at = page;
    }
  t.check(writes > 0 && kept_at == 0, "write: every byte, dword and qword written into hypervisor memory is discarded",
          "%llu writes, a page kept one at 0x%llx", writes, kept_at);
}

// One instruction fetched from hypervisor memory: the zero page's 00 00 (ADD [RAX],AL) runs.
void attack_fetch(Tally& t, const HypervisorPages& hv) {
  const uint64_t target = hv.first_code_page();
  if (!target) {
    t.check(false, "fetch: a hypervisor page in runtime code to fetch from", "none among %llu pages", hv.pages);
    return;
  }
  static volatile uint8_t scratch[2];
  const uint64_t at = reinterpret_cast<uint64_t>(&scratch[0]);
  scratch[0] = 1;
  uint64_t rip = 0;
  const int v = guest_probe_fetch(target + 0x100, at, &rip);
  const uint8_t want = static_cast<uint8_t>(1 + (at & 0xff));
  t.check(v == kDB && rip == target + 0x102 && scratch[0] == want,
          "fetch: an instruction fetched from hypervisor memory is the zero page's (ADD [RAX],AL ran)",
          "vector %llu, trap at +0x%llx", static_cast<unsigned long long>(v), rip - target);
}

// The ring a guest can read (hypercall read_log) names no hypervisor address.
void attack_log_ring(Tally& t, const HypervisorPages& hv) {
  uint64_t bytes = 0, numbers = 0, leaked = 0;
  uint64_t value = 0;
  int state = 0;  // 0 outside, 1 after '0', 2 in the digits after "0x"
  for (uint64_t off = 0;; off += 24) {
    HypercallResult r = hypercall(2, off);
    if (r.fault != kNoFault || r.rax != 0 || r.rcx == 0) break;
    const uint64_t words[3] = {r.rdx, r.rsi, r.rdi};
    for (unsigned i = 0; i < r.rcx; ++i, ++bytes) {
      const char c = static_cast<char>(words[i / 8] >> (8 * (i % 8)));
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      if (state == 2 && hex) {
        value = value * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        continue;
      }
      if (state == 2) {
        ++numbers;
        if (hv.contains(value) && !leaked) leaked = value;
      }
      state = c == '0' ? 1 : (state == 1 && c == 'x') ? 2 : 0;
      value = 0;
    }
  }
  t.check(bytes > 0 && leaked == 0, "log ring: no hypervisor address in what read_log returns",
          "%llu numbers read, 0x%llx is hypervisor memory", numbers, leaked);
}

// ---- MSRs -------------------------------------------------------------------------------------

struct MsrAttack {
  uint32_t msr;
  bool write;
  uint64_t value;  // 1: a hypervisor page's address (| the enable bit where there is one)
  int vector;      // the defined answer
  const char* name;
};

void attack_msrs(Tally& t, const HypervisorPages& hv) {
  const uint64_t h = hv.ranges[0].base;
  const MsrAttack rows[] = {
      {0x560, true, h, kGP, "Intel PT: IA32_RTIT_OUTPUT_BASE = a hypervisor page"},
      {0x561, true, 0x7f, kGP, "Intel PT: IA32_RTIT_OUTPUT_MASK_PTRS"},
      {0x570, true, 1, kGP, "Intel PT: IA32_RTIT_CTL.TraceEn"},
      {0x570, false, 0, kGP, "Intel PT: RDMSR IA32_RTIT_CTL"},
      {0x600, true, h, kGP, "debug store: IA32_DS_AREA = a hypervisor page"},
      {0x3f1, true, 1, kGP, "PEBS: IA32_PEBS_ENABLE"},
      {0x3f4, true, h, kGP, "architectural PEBS: IA32_PEBS_BASE = a hypervisor page"},
      {0x11, true, h, kGP, "KVM: MSR_KVM_WALL_CLOCK = a hypervisor page"},
      {0x12, true, h | 1, kGP, "KVM: MSR_KVM_SYSTEM_TIME = a hypervisor page"},
      {0x4b564d00, true, h, kGP, "KVM: MSR_KVM_WALL_CLOCK_NEW = a hypervisor page"},
      {0x4b564d01, true, h | 1, kGP, "KVM: MSR_KVM_SYSTEM_TIME_NEW = a hypervisor page"},
      {0x4b564d02, true, h | 1, kGP, "KVM: MSR_KVM_ASYNC_PF_EN = a hypervisor page"},
      {0x40000000, true, 1, kGP, "Hyper-V: HV_X64_MSR_GUEST_OS_ID"},
      {0x40000001, true, h | 1, kGP, "Hyper-V: HV_X64_MSR_HYPERCALL page = a hypervisor page"},
      {0x40000073, true, h | 1, kGP, "Hyper-V: HV_X64_MSR_VP_ASSIST_PAGE = a hypervisor page"},
      {0x480, false, 0, kGP, "VMX: RDMSR IA32_VMX_BASIC"},
      {0x493, false, 0, kGP, "VMX: RDMSR IA32_VMX_EXIT_CTLS2"},
      {0x79, true, h, kNoFault, "microcode: IA32_BIOS_UPDT_TRIG = a hypervisor page (dropped)"},
  };
  // Where Bochs lacks the MSR, the CPU itself would raise the #GP; the exit counter shows the
  // access reached apexvisor's policy instead of the CPU (an MSR the bitmap passes through
  // does not exit). The policy's every row is walked by tests/unit/vmm/msr_policy_test.cpp.
  for (const MsrAttack& a : rows) {
    const uint64_t reason = a.write ? 32 : 31;  // WRMSR / RDMSR exits
    const uint64_t exits = hypercall(1, 0, reason).rbx;
    uint64_t value = 0;
    const int v = a.write ? guest_probe_wrmsr(a.msr, a.value) : guest_probe_rdmsr(a.msr, &value);
    const uint64_t exited = hypercall(1, 0, reason).rbx - exits;
    char name[160];
    vmm::format(name, sizeof name, "msr: %s: %s, answered by apexvisor", a.name,
                a.vector == kGP ? "#GP(0)" : "no fault, no effect");
    t.check(v == a.vector && (v != kGP || guest_probe_error == 0) && exited == 1, name,
            "vector %lld, %llu exits", static_cast<long long>(v), exited);
  }
  // IA32_XSS with the PT component: XRSTORS would load PT's output base from guest memory.
  if (arch::cpuid(0xd, 1).eax & (1u << 3)) {  // XSAVES/IA32_XSS exist
    const uint64_t exits = hypercall(1, 0, 32).rbx;
    const int v = guest_probe_wrmsr(static_cast<uint32_t>(arch::Msr::IA32_XSS), 1u << 8);
    const uint64_t exited = hypercall(1, 0, 32).rbx - exits;
    t.check(v == kGP && exited == 1, "msr: IA32_XSS with the Intel PT component: #GP(0), answered by apexvisor",
            "vector %lld, %llu exits", static_cast<long long>(v), exited);
  }
  t.check(page_is_zero(h), "msr: the hypervisor page the MSRs named still reads zeros");
}

// ---- MTRRs: the guest's own, validated as hardware validates -----------------------------------

void attack_mtrrs(Tally& t, const HypervisorPages& hv) {
  using namespace vmm::ept;
  const unsigned vcnt = arch::rdmsr(arch::Msr::IA32_MTRRCAP) & 0xff;
  const uint32_t base0 = static_cast<uint32_t>(arch::Msr::IA32_MTRR_PHYSBASE0);
  unsigned n = 0;
  while (n < vcnt && (arch::rdmsr(base0 + 2 * n + 1) & physmask::kValid)) ++n;
  if (n == vcnt) {
    t.check(false, "mtrr: a free variable pair for the attack", "all %u in use", vcnt);
    return;
  }
  const uint32_t base_msr = base0 + 2 * n, mask_msr = base_msr + 1;
  constexpr uint64_t kBlock = 2ull << 20;
  const uint64_t block = hv.first_code_page() & ~(kBlock - 1);
  const auto ext = arch::cpuid(0x80000000).eax >= 0x80000008 ? arch::cpuid(0x80000008).eax & 0xff : 36;
  const uint64_t mask = (~(kBlock - 1) & ((1ull << ext) - 1) & ~0xfffull) | physmask::kValid;
  set_variable_mtrr(n, block | static_cast<uint64_t>(MemoryType::uc), mask);
  const bool reads_back = arch::rdmsr(base_msr) == (block | 0) && arch::rdmsr(mask_msr) == mask;
  t.check(reads_back, "mtrr: an uncacheable range over hypervisor memory is accepted and reads back (guest's own MTRRs)",
          "base 0x%llx mask 0x%llx", arch::rdmsr(base_msr), arch::rdmsr(mask_msr));
  const int bad_type = guest_probe_wrmsr(base_msr, block | 2);  // type 2 is reserved
  t.check(bad_type == kGP && arch::rdmsr(base_msr) == block, "mtrr: a reserved memory type raises #GP(0), nothing changes",
          "vector %lld", static_cast<long long>(bad_type));
  const int bad_mask = guest_probe_wrmsr(mask_msr, mask | 1);  // PHYSMASK bits 10:0 are reserved
  t.check(bad_mask == kGP, "mtrr: a reserved PHYSMASK bit raises #GP(0)", "vector %lld", static_cast<long long>(bad_mask));
  set_variable_mtrr(n, 0, 0);
  t.check(!(arch::rdmsr(mask_msr) & physmask::kValid), "mtrr: the pair is free again");
}

// ---- emulated writes that run into hypervisor memory ---------------------------------------------

struct Stos {
  uint64_t rdi, rcx;
};
// REP STOSB of `count` bytes from `dst`, backwards with DF=1; interrupts off meanwhile, so no
// firmware handler runs with DF set.
Stos rep_stosb(uint64_t dst, uint8_t value, uint64_t count, bool backwards) {
  const uint64_t flags = arch::read_rflags();
  arch::cli();
  if (backwards) asm volatile("std\n rep stosb\n cld" : "+D"(dst), "+c"(count) : "a"(value) : "memory");
  else asm volatile("rep stosb" : "+D"(dst), "+c"(count) : "a"(value) : "memory");
  arch::write_rflags(flags);
  return {dst, count};
}

// A page of ours right next to hypervisor memory: below a range (the string runs up into it)
// or above one (it runs down into it).
struct Neighbour {
  uint64_t page = 0, boundary = 0;  // boundary: the first hypervisor byte (up) / one past it (down)
  bool backwards = false;
};

bool take_neighbour(EFI_BOOT_SERVICES* bs, const HypervisorPages& hv, Neighbour* out) {
  for (unsigned r = 0; r < hv.count; ++r) {
    const uint64_t below = hv.ranges[r].base - kPage, above = hv.ranges[r].base + hv.ranges[r].pages * kPage;
    EFI_PHYSICAL_ADDRESS a = below;
    if (!hv.contains(below) && !EFI_ERROR(bs->AllocatePages(AllocateAddress, EfiLoaderData, 1, &a))) {
      *out = {below, hv.ranges[r].base, false};
      return true;
    }
    a = above;
    if (!hv.contains(above) && !EFI_ERROR(bs->AllocatePages(AllocateAddress, EfiLoaderData, 1, &a))) {
      *out = {above, above, true};
      return true;
    }
  }
  return false;
}

// 16 bytes, 8 in our page and 8 in hypervisor memory: the CPU writes ours, exits at the
// boundary, and the hypervisor finishes the string: its bytes discarded, RCX and RDI as after
// the whole instruction.
bool stos_across(const Neighbour& nb, uint8_t value, const char* what, Tally& t) {
  const uint64_t start = nb.backwards ? nb.boundary + 7 : nb.boundary - 8;
  const Stos s = rep_stosb(start, value, 16, nb.backwards);
  bool ours = true;
  for (unsigned i = 0; i < 8; ++i)
    ours &= *reinterpret_cast<volatile uint8_t*>(nb.backwards ? nb.boundary + i : nb.boundary - 8 + i) == value;
  const uint64_t hv_page = nb.backwards ? nb.boundary - kPage : nb.boundary;
  const uint64_t end = nb.backwards ? start - 16 : start + 16;
  char name[160];
  vmm::format(name, sizeof name, "emulated write: %s: our bytes written, the hypervisor's discarded, RCX=0, RDI past the end", what);
  t.check(ours && page_is_zero(hv_page) && s.rcx == 0 && s.rdi == end, name, "rcx %llu rdi-end %lld", s.rcx,
          static_cast<unsigned long long>(s.rdi - end));
  return ours;
}

void attack_emulated_writes(Tally& t, EFI_SYSTEM_TABLE* st, const HypervisorPages& hv) {
  Neighbour nb;
  if (!take_neighbour(st->BootServices, hv, &nb)) {
    t.check(false, "emulated write: a free page next to hypervisor memory", "none of %llu ranges has one",
            static_cast<unsigned long long>(hv.count));
    return;
  }
  say("emulated write: REP STOSB %s across the edge of hypervisor memory", nb.backwards ? "down (DF=1)" : "up");
  stos_across(nb, 0xab, "REP STOSB from our page into hypervisor memory", t);
  // The same with our page watched by the EPT write monitor: the monitor emulates the string,
  // records the bytes in our page, and the hypervisor's part is discarded as before.
  HypercallResult before = hypercall(19);
  HypercallResult add = hypercall(16, nb.page, kPage);
  t.check(add.fault == kNoFault && add.rax == 0, "monitor: our page next to hypervisor memory can be watched",
          "status %llu", add.rax);
  if (add.rax != 0) return;
  stos_across(nb, 0xcd, "REP STOSB from a watched page into hypervisor memory", t);
  HypercallResult after = hypercall(19);
  uint64_t recorded_in_page = 0, outside = 0;
  for (uint64_t seq = before.rbx; seq < after.rbx; ++seq) {
    HypercallResult e = hypercall(18, seq, 0);
    if (e.rax != 0) continue;
    if (e.rbx >= nb.page && e.rbx < nb.page + kPage) recorded_in_page += e.rdi & 0xff;
    else ++outside;
  }
  t.check(recorded_in_page == 8 && outside == 0,
          "monitor: the watched page's 8 bytes are recorded, nothing for hypervisor memory",
          "%llu bytes recorded in the page, %llu events elsewhere", recorded_in_page, outside);
  HypercallResult rm = hypercall(17, nb.page, kPage);
  t.check(rm.rax == 0, "monitor: the watch is removed", "status %llu", rm.rax);
  st->BootServices->FreePages(nb.page, 1);
}

// ---- event delivery onto a trapped stack (P8/P9) ------------------------------------------------
// An exception or an interrupt delivered while RSP points into hypervisor memory, or into a
// page the EPT write monitor watches: the delivery exits to apexvisor with IDT-vectoring
// information valid; the event must be injected again and the delivery completed (in
// hypervisor memory the pushes are discarded, as with ROM). The handler must run exactly once,
// with the right vector, and the CPU goes on. delivery_probe.S runs each case under its own
// IDT; its handlers never IRET through the frame (it reads zeros in hypervisor memory).

extern "C" {
int guest_delivery_probe(uint64_t stack, int how, uint32_t icr_low, uint64_t apic_mmio);
int guest_delivery_wait();
extern uint8_t guest_delivery_idt[256 * 16];
extern arch::PseudoDescriptor guest_delivery_idtr;
extern uint8_t guest_delivery_stubs[256 * 16];
extern volatile uint32_t guest_delivery_count;
extern volatile uint64_t guest_delivery_rsp, guest_delivery_frame_rip, guest_delivery_frame_cs;
}

constexpr int kBP = 3;
constexpr uint8_t kIpiVector = 0xf1;  // priority class 15: above anything the firmware uses
// ICR low word (SDM Vol 3A 11.6.1): fixed delivery, edge, assert, destination shorthand self.
constexpr uint32_t kIcrSelf = (1u << 18) | (1u << 14) | kIpiVector;

void delivery_prepare() {
  uint16_t cs;
  asm volatile("mov %%cs, %0" : "=r"(cs));
  for (unsigned v = 0; v < 256; ++v) {
    const uint64_t h = reinterpret_cast<uint64_t>(guest_delivery_stubs + 16 * v);
    uint8_t* g = guest_delivery_idt + 16 * v;
    g[0] = h & 0xff;
    g[1] = (h >> 8) & 0xff;
    g[2] = cs & 0xff;
    g[3] = cs >> 8;
    g[4] = 0;
    g[5] = 0x8e;  // present, DPL 0, 64-bit interrupt gate
    g[6] = (h >> 16) & 0xff;
    g[7] = (h >> 24) & 0xff;
    for (int i = 0; i < 4; ++i) g[8 + i] = (h >> (32 + 8 * i)) & 0xff;
    for (int i = 12; i < 16; ++i) g[i] = 0;
  }
  guest_delivery_idtr.base = reinterpret_cast<uint64_t>(guest_delivery_idt);
}

// The local APIC as the guest uses it (xAPIC page, else the x2APIC MSRs).
struct Apic {
  uint64_t mmio;  // 0 in x2APIC mode
  static Apic current() {
    const uint64_t base = arch::rdmsr(arch::Msr::IA32_APIC_BASE);
    return {(base & (1ull << 10)) ? 0 : base & ~0xfffull};
  }
  bool in_service(uint8_t v) const {  // ISR bit v (SDM Vol 3A 11.8.4)
    const uint32_t word = mmio ? *reinterpret_cast<volatile uint32_t*>(mmio + 0x100 + 0x10 * (v / 32))
                               : static_cast<uint32_t>(arch::rdmsr(0x810 + v / 32));
    return (word >> (v % 32)) & 1;
  }
  void eoi() const {
    if (mmio)
      *reinterpret_cast<volatile uint32_t*>(mmio + 0xb0) = 0;
    else
      arch::wrmsr(0x80b, 0);
  }
};

struct Delivered {
  int vector;       // the vector the handler saw (-1: none)
  uint32_t count;   // deliveries, duplicates included
  bool isr_clear;   // after the handler's EOI (self-IPIs only)
};

// One probe: `how` 0 INT3, 1 UD2, 2 a self-IPI of kIpiVector; for the IPI, EOI after the
// handler, the ISR read back, then interrupts on again to catch a duplicate delivery. The
// firmware's interrupts must not land in the probe's IDT (they would never see their EOI):
// the 8259's IRQs are masked and the task priority (CR8) holds back every APIC vector below
// class 15 meanwhile; they are delivered to the firmware afterwards.
Delivered deliver_on(uint64_t stack, int how) {
  const Apic apic = Apic::current();
  const uint8_t pic1 = arch::inb(0x21), pic2 = arch::inb(0xa1);
  arch::outb(0x21, 0xff);
  arch::outb(0xa1, 0xff);
  uint64_t cr8;
  asm volatile("mov %%cr8, %0" : "=r"(cr8));
  asm volatile("mov %0, %%cr8" ::"r"(uint64_t{14}) : "memory");
  guest_delivery_count = 0;
  Delivered d{guest_delivery_probe(stack, how, kIcrSelf, apic.mmio), 0, false};
  if (how == 2 && d.vector == kIpiVector) {
    apic.eoi();
    d.isr_clear = !apic.in_service(kIpiVector);
    (void)guest_delivery_wait();
  }
  d.count = guest_delivery_count;
  asm volatile("mov %0, %%cr8" ::"r"(cr8) : "memory");
  arch::outb(0x21, pic1);
  arch::outb(0xa1, pic2);
  return d;
}

void attack_event_delivery(Tally& t, EFI_SYSTEM_TABLE* st, const HypervisorPages& hv) {
  delivery_prepare();
  // The stack in hypervisor memory: the middle of its first page, 16-byte aligned.
  const uint64_t hv_page = hv.ranges[0].base;
  const uint64_t hv_stack = hv_page + 2048;
  struct Row {
    int how;
    int vector;
    const char* name;
  };
  const Row rows[] = {
      {0, kBP, "delivery: INT3 with the stack in hypervisor memory: its handler ran once (#BP), the CPU goes on"},
      {1, kUD, "delivery: UD2 with the stack in hypervisor memory: its handler ran once (#UD), the CPU goes on"},
      {2, kIpiVector, "delivery: a self-IPI with the stack in hypervisor memory: its handler ran once, EOI cleared the ISR"},
  };
  for (const Row& r : rows) {
    const Delivered d = deliver_on(hv_stack, r.how);
    const bool on_stack = guest_delivery_rsp >= hv_page && guest_delivery_rsp < hv_stack;
    t.check(d.vector == r.vector && d.count == 1 && on_stack && (r.how != 2 || d.isr_clear), r.name,
            "vector %lld, %llu deliveries", static_cast<long long>(d.vector), d.count);
  }
  t.check(page_is_zero(hv_page), "delivery: the hypervisor page the frames were pushed to still reads zeros",
          "it does not");

  // The stack on a page the EPT write monitor watches: the pushes land there (recorded as the
  // monitor's events), and the interrupt is delivered exactly once.
  EFI_PHYSICAL_ADDRESS page = 0;
  if (EFI_ERROR(st->BootServices->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &page))) {
    t.check(false, "delivery: a page to watch", "no page");
    return;
  }
  HypercallResult before = hypercall(19);
  HypercallResult add = hypercall(16, page, kPage);
  if (add.fault != kNoFault || add.rax != 0) {
    t.check(false, "delivery: the stack page can be watched", "status %llu", add.rax);
    return;
  }
  uint16_t cs;
  asm volatile("mov %%cs, %0" : "=r"(cs));
  const Delivered d = deliver_on(page + 2048, 2);
  const bool frame = guest_delivery_frame_cs == cs && guest_delivery_frame_rip != 0 &&
                     guest_delivery_rsp >= page && guest_delivery_rsp < page + 2048;
  t.check(d.vector == kIpiVector && d.count == 1 && d.isr_clear && frame,
          "delivery: a self-IPI with the stack on a watched page: its handler ran once on the pushed frame, EOI cleared the ISR",
          "vector %lld, %llu deliveries", static_cast<long long>(d.vector), d.count);
  HypercallResult after = hypercall(19);
  uint64_t in_page = 0;
  for (uint64_t seq = before.rbx; seq < after.rbx; ++seq) {
    HypercallResult e = hypercall(18, seq, 0);
    if (e.rax == 0 && e.rbx >= page && e.rbx < page + kPage) ++in_page;
  }
  t.check(in_page >= 1, "delivery: the monitor recorded the frame pushed onto the watched page", "%llu events",
          in_page);
  HypercallResult rm = hypercall(17, page, kPage);
  t.check(rm.rax == 0, "delivery: the watch on the stack page is removed", "status %llu", rm.rax);
  st->BootServices->FreePages(page, 1);

  // The stack on the local-APIC page: the pushes are discarded (never an APIC register
  // written: the frame of an INT3 at RSP = base + 0x3a0 covers 0x378-0x39f, the timer's
  // initial count at 0x380 included), the handler runs once and the CPU goes on. It used to
  // stop the CPU.
  const Apic apic = Apic::current();
  if (!apic.mmio) {
    t.check(false, "delivery: INT3 with the stack on the local-APIC page", "the APIC is in x2APIC mode");
    t.check(false, "delivery: the pushes wrote no local-APIC register", "the APIC is in x2APIC mode");
    return;
  }
  volatile uint32_t* initial_count = reinterpret_cast<volatile uint32_t*>(apic.mmio + 0x380);
  volatile uint32_t* lvt_timer = reinterpret_cast<volatile uint32_t*>(apic.mmio + 0x320);
  const uint32_t count_before = *initial_count, lvt_before = *lvt_timer;
  const Delivered a = deliver_on(apic.mmio + 0x3a0, 0);
  const bool on_apic = guest_delivery_rsp >= apic.mmio && guest_delivery_rsp < apic.mmio + 0x3a0;
  t.check(a.vector == kBP && a.count == 1 && on_apic,
          "delivery: INT3 with the stack on the local-APIC page: its handler ran once (#BP), the CPU goes on",
          "vector %lld, %llu deliveries", static_cast<long long>(a.vector), a.count);
  const uint32_t count_after = *initial_count, lvt_after = *lvt_timer;
  t.check(count_after == count_before && lvt_after == lvt_before,
          "delivery: the pushes wrote no local-APIC register (timer initial count and LVT timer as before)",
          "initial count %llx -> %llx (or the LVT timer changed)", count_before, count_after);
}

// ---- hypercalls with arguments out of range -----------------------------------------------------

struct HypercallAttack {
  uint64_t number, rbx, rcx;
  int fault;        // kNoFault or #UD
  uint64_t status;  // RAX when no fault
  const char* name;
};

void attack_hypercalls(Tally& t, const HypervisorPages& hv, uint64_t ram_page) {
  const uint64_t h = hv.ranges[0].base;
  const HypercallAttack rows[] = {
      {1, 0xffffffffull, 0, kNoFault, 1, "exit_counter of CPU 0xffffffff: unknown_cpu"},
      {1, 1ull << 63, 0, kNoFault, 1, "exit_counter of CPU 2^63: unknown_cpu"},
      {1, 0, 0x10000, kNoFault, 2, "exit_counter of reason 0x10000: bad_exit_reason"},
      {1, 0, ~0ull, kNoFault, 2, "exit_counter of reason 2^64-1: bad_exit_reason"},
      {2, ~0ull, 0, kNoFault, 0, "read_log at offset 2^64-1: ok, 0 bytes"},
      {16, h, kPage, kNoFault, 5, "monitor_add over hypervisor memory: monitor_not_ram"},
      {16, ~0ull - 100, kPage, kNoFault, 4, "monitor_add of a range that wraps: monitor_bad_range"},
      {16, ram_page, 0, kNoFault, 4, "monitor_add of 0 bytes: monitor_bad_range"},
      {17, h, kPage, kNoFault, 8, "monitor_remove of a range never watched: monitor_no_such_range"},
      {18, 1ull << 60, 0, kNoFault, 10, "monitor_read_event 2^60: monitor_no_event"},
      {18, 0, 6, kNoFault, 12, "monitor_read_event part 6: bad_argument"},
      {8, 1ull << 63, 0, kNoFault, 12, "ept_page of 2^63 (above MAXPHYADDR): bad_argument"},
      {8, ~0ull, 0, kNoFault, 12, "ept_page of 2^64-1: bad_argument"},
      {12, 0, 0, kUD, 0, "hypercall 12 (not in the table): #UD"},
      {15, 0, 0, kUD, 0, "hypercall 15 (not in the table): #UD"},
      {20, 0, 0, kUD, 0, "hypercall 20 (not in the table): #UD"},
      {0xffffffffull, 0, 0, kUD, 0, "hypercall 0xffffffff: #UD"},
      {1ull << 63, 0, 0, kUD, 0, "hypercall 2^63: #UD"},
  };
  for (const HypercallAttack& a : rows) {
    HypercallResult r = hypercall(a.number, a.rbx, a.rcx);
    const bool ok = r.fault == a.fault && (a.fault != kNoFault || r.rax == a.status) && (a.number != 2 || r.rcx == 0);
    char name[160];
    vmm::format(name, sizeof name, "hypercall: %s", a.name);
    t.check(ok, name, "vector %lld status %llu", static_cast<long long>(r.fault), r.rax);
  }
  // ept_page of hypervisor memory says no more than the guest can see: hidden, not writable.
  const HypercallResult e = hypercall(8, h);
  t.check(e.fault == kNoFault && e.rax == 0 && (e.rcx & 1) && (e.rcx & 16) && !(e.rcx & 4),
          "hypercall: ept_page of hypervisor memory: hidden, not writable", "status %llu flags 0x%llx", e.rax, e.rcx);
}

// ---- a flood of guest-caused log lines from both CPUs -------------------------------------------

constexpr unsigned kFloodWrites = 1000;
constexpr char kDiscardLine[] = "a guest write into hypervisor memory was discarded";

struct Flood {
  uint64_t page;
  volatile uint32_t done;
};

void EFIAPI flood_on_ap(void* arg) {
  auto* f = static_cast<Flood*>(arg);
  auto* p = reinterpret_cast<volatile uint64_t*>(f->page);
  for (unsigned i = 0; i < kFloodWrites; ++i) p[i % 512] = i;
  f->done = 1;
}

// Lines in the guest-readable ring that contain `needle`.
uint64_t ring_lines_with(const char* needle) {
  uint64_t lines = 0;
  size_t matched = 0;
  size_t n = 0;
  while (needle[n]) ++n;
  for (uint64_t off = 0;; off += 24) {
    HypercallResult r = hypercall(2, off);
    if (r.fault != kNoFault || r.rax != 0 || r.rcx == 0) break;
    const uint64_t words[3] = {r.rdx, r.rsi, r.rdi};
    for (unsigned i = 0; i < r.rcx; ++i) {
      const char c = static_cast<char>(words[i / 8] >> (8 * (i % 8)));
      matched = c == needle[matched] ? matched + 1 : (c == needle[0] ? 1 : 0);
      if (matched == n) ++lines, matched = 0;
    }
  }
  return lines;
}

void attack_log_flood(Tally& t, EFI_SYSTEM_TABLE* st, const HypervisorPages& hv) {
  MpServices m{};
  if (!find_mp_services(st, &m) || m.total < 2) {
    t.check(false, "log flood: a second CPU to flood from", "MP services: %llu CPUs", m.total);
    return;
  }
  const UINTN ap = m.self == 0 ? 1 : 0;
  const uint64_t lines_before = ring_lines_with(kDiscardLine);
  const HypercallResult exits_bsp = hypercall(1, m.self, kEptViolation), exits_ap = hypercall(1, ap, kEptViolation);
  Flood f{hv.ranges[0].base, 0};
  EFI_EVENT ev = nullptr;
  EFI_STATUS s = st->BootServices->CreateEvent(0, 0, nullptr, nullptr, &ev);
  if (!EFI_ERROR(s)) s = m.mp->startup_this_ap(m.mp, flood_on_ap, ap, ev, 0, &f, nullptr);
  auto* p = reinterpret_cast<volatile uint64_t*>(hv.ranges[0].base);
  for (unsigned i = 0; i < kFloodWrites; ++i) p[i % 512] = i;
  UINTN which = 0;
  if (!EFI_ERROR(s)) st->BootServices->WaitForEvent(1, &ev, &which);  // MP services signals it when the AP is done
  if (ev) st->BootServices->CloseEvent(ev);
  const uint64_t printed = ring_lines_with(kDiscardLine) - lines_before;
  const HypercallResult after_bsp = hypercall(1, m.self, kEptViolation), after_ap = hypercall(1, ap, kEptViolation);
  t.check(!EFI_ERROR(s) && f.done, "log flood: both CPUs wrote into hypervisor memory at once", "status 0x%llx", s);
  t.check(after_bsp.rbx - exits_bsp.rbx >= kFloodWrites && after_ap.rbx - exits_ap.rbx >= kFloodWrites,
          "log flood: every write exited and was discarded on both CPUs", "EPT-violation exits: %llu and %llu",
          after_bsp.rbx - exits_bsp.rbx, after_ap.rbx - exits_ap.rbx);
  // 2000 lines of one cause: at most 8 + about 2 x log2(2000) printed (vmm/log/cause_limiter.hpp).
  t.check(printed >= 1 && printed <= 24, "log flood: the guest-caused lines are rate-limited",
          "%llu of %llu lines printed", printed, 2ull * kFloodWrites);
}

// ---- afterwards: the hypervisor works and its code is the file's ---------------------------------

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

// The .text section of a PE file: FNV-1a over its first VirtualSize bytes in the file.
bool pe_text_checksum(const uint8_t* f, size_t size, uint64_t* sum, uint64_t* bytes) {
  if (size < 0x40) return false;
  const uint32_t pe = le32(f + 0x3c);
  if (pe + 24 > size || le32(f + pe) != 0x00004550) return false;  // "PE\0\0"
  const unsigned sections = f[pe + 6] | f[pe + 7] << 8, opt = f[pe + 20] | f[pe + 21] << 8;
  for (unsigned i = 0; i < sections; ++i) {
    const uint8_t* s = f + pe + 24 + opt + 40 * i;
    if (s + 40 > f + size) return false;
    if (s[0] != '.' || s[1] != 't' || s[2] != 'e' || s[3] != 'x' || s[4] != 't' || s[5] != 0) continue;
    const uint32_t vsize = le32(s + 8), raw_size = le32(s + 16), raw_at = le32(s + 20);
    const uint32_t n = vsize < raw_size ? vsize : raw_size;
    if (raw_at + n > size) return false;
    *sum = vmm::fnv1a64(f + raw_at, n);
    *bytes = n;
    return true;
  }
  return false;
}

void check_still_works(Tally& t, const HypervisorPages& hv) {
  auto h = arch::cpuid(0x40000000);
  t.check(h.ebx == 0x78657061 && h.ecx == 0x6f736976 && (h.edx & 0xff) == 'r',
          "after: CPUID 0x40000000 still says 'apexvisor'", "ebx 0x%llx ecx 0x%llx", h.ebx, h.ecx);
  HypercallResult v = hypercall(0);
  t.check(v.fault == kNoFault && v.rax == 0 && v.rbx == 1 && v.rcx == 0x78657061, "after: VMCALL version answers",
          "rax %llu rbx %llu", v.rax, v.rbx);
  HypercallResult a = hypercall(1, 0, 10);
  for (int i = 0; i < 5; ++i) arch::cpuid(0);
  HypercallResult b = hypercall(1, 0, 10);
  t.check(b.rbx >= a.rbx + 5, "after: exit counters still count (CPUID)", "before %llu after %llu", a.rbx, b.rbx);
  uint64_t kept = 0;
  for (unsigned r = 0; r < hv.count; ++r)
    for (uint64_t p = 0; p < hv.ranges[r].pages; ++p)
      if (!kept && !page_is_zero(hv.ranges[r].base + p * kPage)) kept = hv.ranges[r].base + p * kPage;
  t.check(kept == 0, "after: every hypervisor page still reads zeros", "0x%llx does not", kept);

  char* file = nullptr;
  size_t size = 0;
  EFI_STATUS st = 0;
  uint64_t want = 0, want_bytes = 0;
  const bool read = boot::read_esp_file(u"\\EFI\\BOOT\\BOOTX64.EFI", &file, &size, &st) == boot::FileResult::ok;
  const bool parsed = read && pe_text_checksum(reinterpret_cast<const uint8_t*>(file), size, &want, &want_bytes);
  HypercallResult c = hypercall(6);
  say("code checksum: hypervisor 0x%llx over %llu bytes, apexvisor.efi .text 0x%llx over %llu bytes",
      static_cast<unsigned long long>(c.rbx), static_cast<unsigned long long>(c.rcx),
      static_cast<unsigned long long>(want), static_cast<unsigned long long>(want_bytes));
  t.check(parsed && c.fault == kNoFault && c.rax == 0 && c.rcx == want_bytes && c.rbx == want && want_bytes > 4096,
          "after: the hypervisor's code is byte for byte the .text of apexvisor.efi (hypercall code_checksum)",
          "file read %llu, status 0x%llx", read, st);
  if (file) boot::free_pool(file);
}

}  // namespace
}  // namespace guest

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  boot::firmware() = {image, st, st->BootServices, st->RuntimeServices};
  guest::probes_prepare();
  guest::Tally t;
  static guest::HypervisorPages hv;
  guest::scan_runtime_memory(t, st, hv);
  if (hv.count) {
    guest::attack_writes(t, hv);
    guest::attack_fetch(t, hv);
    guest::attack_log_ring(t, hv);
    guest::attack_msrs(t, hv);
    guest::attack_mtrrs(t, hv);
    guest::attack_emulated_writes(t, st, hv);
    guest::attack_event_delivery(t, st, hv);
    EFI_PHYSICAL_ADDRESS ram = 0;
    st->BootServices->AllocatePages(AllocateAnyPages, EfiLoaderData, 1, &ram);
    guest::attack_hypercalls(t, hv, ram);
    guest::attack_log_flood(t, st, hv);
    // Last of the attacks: it takes the AP from MP services (INIT-SIPI-SIPI) for good.
    guest::attack_descriptor_tables(t, st, hv.first_below_4g());
    guest::check_still_works(t, hv);
  }
  guest::say("attack: tally pass=%u fail=%u", t.pass, t.fail);
  guest::end_run(t.fail ? 1 : 0);
}
