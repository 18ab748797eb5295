#include "vmm/host/host_cpu.hpp"

#include "arch/cpu.hpp"

extern "C" void (*const apex_host_exception_stubs[32])();

namespace vmm {
namespace {

// SDM Vol 3A 3.4.5: flat 64-bit code (L=1), flat data, and a 64-bit available TSS.
constexpr uint64_t kCode64 = 0x00af9b000000ffffull;
constexpr uint64_t kData = 0x00cf93000000ffffull;

void set_tss_descriptor(uint64_t* slot, const Tss64* tss) {
  uint64_t base = reinterpret_cast<uint64_t>(tss);
  uint64_t limit = sizeof(Tss64) - 1;
  slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
            (((base >> 24) & 0xff) << 56);
  slot[1] = base >> 32;
}

// IST slots (1-based in the gate): separate known-good stacks for the events that can
// arrive on a broken stack.
constexpr uint8_t kIstNmi = 1, kIstDf = 2, kIstMc = 3;

}  // namespace

void host_cpu_init(HostCpu* cpu, unsigned index, Vcpu* vcpu) {
  cpu->index = index;
  cpu->vcpu = vcpu;
  cpu->gdt[0] = 0;
  cpu->gdt[1] = kCode64;
  cpu->gdt[2] = kData;
  set_tss_descriptor(&cpu->gdt[3], &cpu->tss);
  cpu->tss.iomap_base = sizeof(Tss64);  // no I/O permission bitmap
  cpu->tss.ist[kIstNmi - 1] = reinterpret_cast<uint64_t>(cpu->ist_nmi + HostCpu::kIstSize);
  cpu->tss.ist[kIstDf - 1] = reinterpret_cast<uint64_t>(cpu->ist_df + HostCpu::kIstSize);
  cpu->tss.ist[kIstMc - 1] = reinterpret_cast<uint64_t>(cpu->ist_mc + HostCpu::kIstSize);
  for (unsigned v = 0; v < HostCpu::kVectors; ++v) {
    uint64_t handler = reinterpret_cast<uint64_t>(apex_host_exception_stubs[v]);
    IdtGate& g = cpu->idt[v];
    g.offset0 = static_cast<uint16_t>(handler);
    g.selector = host_sel::code;
    g.ist = v == 2 ? kIstNmi : v == 8 ? kIstDf : v == 18 ? kIstMc : 0;
    g.type_attr = 0x8e;  // present, DPL 0, 64-bit interrupt gate
    g.offset1 = static_cast<uint16_t>(handler >> 16);
    g.offset2 = static_cast<uint32_t>(handler >> 32);
  }
  *reinterpret_cast<Vcpu**>(cpu->host_rsp()) = vcpu;
}

uint64_t build_host_page_tables(uint64_t limit, void* (*alloc_page)(void* ctx), void* ctx) {
  // 1 GiB pages where CPUID.80000001h:EDX[26] allows, else 2 MiB (SDM Vol 3A 5.5).
  const bool gb_pages = arch::cpuid(0x80000001).edx & (1u << 26);
  constexpr uint64_t kP = 1, kW = 2, kPs = 1ull << 7;
  auto* pml4 = static_cast<uint64_t*>(alloc_page(ctx));
  if (!pml4) return 0;
  constexpr uint64_t k512G = 1ull << 39, k1G = 1ull << 30, k2M = 1ull << 21;
  for (uint64_t base = 0; base < limit; base += k512G) {
    auto* pdpt = static_cast<uint64_t*>(alloc_page(ctx));
    if (!pdpt) return 0;
    pml4[base / k512G] = reinterpret_cast<uint64_t>(pdpt) | kP | kW;
    for (uint64_t g = 0; g < 512 && base + g * k1G < limit; ++g) {
      uint64_t gb = base + g * k1G;
      if (gb_pages) {
        pdpt[g] = gb | kP | kW | kPs;
        continue;
      }
      auto* pd = static_cast<uint64_t*>(alloc_page(ctx));
      if (!pd) return 0;
      pdpt[g] = reinterpret_cast<uint64_t>(pd) | kP | kW;
      for (uint64_t m = 0; m < 512; ++m) pd[m] = (gb + m * k2M) | kP | kW | kPs;
    }
  }
  return reinterpret_cast<uint64_t>(pml4);
}

}  // namespace vmm
