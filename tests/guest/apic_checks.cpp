// The local APIC as the guest sees it through its xAPIC page (issue P6): apexvisor passes the
// APIC through but traps the guest's writes — with the CPU's APIC-register virtualization
// (apic_virt=auto, vmm/apic/virtual_apic.hpp), where reads of most registers come from a
// virtual-APIC page, or through the EPT (apic_virt=off). Either way the guest must see its
// APIC behave like the hardware: an LVT write reads back, the APIC id is its own, TPR changes
// reach the processor priority (PPR, read from the real APIC), CR8 and the TPR agree. The
// last line reports which exits carried it (the scenario checks them against the mode).
#include "arch/cpu.hpp"
#include "arch/msr.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/apic/xapic_registers.hpp"
#include "vmm/exit_action.hpp"
#include "vmm/log/format.hpp"

namespace guest {
namespace {

namespace xapic = vmm::apic::xapic;
constexpr uint64_t kApicBaseX2apic = 1ull << 10;  // IA32_APIC_BASE.EXTD
constexpr uint32_t kLvtMask = 1u << 16;

// Exit reasons (vmx/exit_reasons.def) whose counters tell how the APIC accesses were handled.
struct Reason {
  const char* name;
  uint32_t number;
};
constexpr Reason kReasons[] = {{"apic_write", 56}, {"apic_access", 44}, {"tpr_below_threshold", 43},
                               {"ept_violation", 48}, {"control_register_access", 28}};
constexpr unsigned kReasonCount = sizeof kReasons / sizeof kReasons[0];

void count_exits(uint64_t* out) {
  for (unsigned i = 0; i < kReasonCount; ++i) out[i] = hypercall(1, 0, kReasons[i].number).rbx;
}

struct Apic {
  uint64_t base;
  uint32_t read(unsigned offset) const { return *reinterpret_cast<volatile uint32_t*>(base + offset); }
  void write(unsigned offset, uint32_t v) const { *reinterpret_cast<volatile uint32_t*>(base + offset) = v; }
};

uint64_t read_cr8() {
  uint64_t v;
  asm volatile("mov %%cr8, %0" : "=r"(v));
  return v;
}
void write_cr8(uint64_t v) { asm volatile("mov %0, %%cr8" ::"r"(v) : "memory"); }

}  // namespace

void run_local_apic_checks(Tally& t) {
  const uint64_t apic_base_msr = arch::rdmsr(arch::Msr::IA32_APIC_BASE);
  if (apic_base_msr & kApicBaseX2apic) {
    say("SKIP local APIC page checks: the APIC is in x2APIC mode (no xAPIC page)");
    return;
  }
  const Apic apic{apic_base_msr & 0xffffff000ull};
  const uint64_t flags = arch::read_rflags();
  arch::cli();  // no interrupt in service while PPR is compared with TPR
  uint64_t before[kReasonCount], after[kReasonCount];
  count_exits(before);

  const uint32_t id = apic.read(xapic::id) >> 24;
  const uint32_t cpuid_id = arch::cpuid(1).ebx >> 24;
  t.check(id == cpuid_id, "local APIC id read from the page is the CPU's own", "page %llu, CPUID.1:EBX %llu", id,
          cpuid_id);

  // LVT error: masked with a new vector, read back, restored. Vector and mask are writable.
  const uint32_t lvt_error = apic.read(xapic::lvt_error);
  const uint32_t probe = (lvt_error & ~0xffu) | kLvtMask | 0xe7;
  apic.write(xapic::lvt_error, probe);
  const uint32_t back = apic.read(xapic::lvt_error);
  apic.write(xapic::lvt_error, lvt_error);
  t.check(back == probe, "an LVT write reads back", "wrote 0x%llx, read 0x%llx", probe, back);
  t.check(apic.read(xapic::lvt_error) == lvt_error, "the LVT's old value reads back after restoring it",
          "read 0x%llx", apic.read(xapic::lvt_error));

  // TPR raised through the page: the page reads it at once; the processor priority (PPR is
  // never virtualized: it comes from the real APIC) follows by the next APIC write at the
  // latest (virtual_apic.hpp: raises are not trapped, they reach the APIC at the next exit).
  const uint32_t tpr = apic.read(xapic::tpr);
  apic.write(xapic::tpr, 0x20);
  t.check((apic.read(xapic::tpr) & 0xff) == 0x20, "a TPR write reads back", "read 0x%llx", apic.read(xapic::tpr));
  apic.write(xapic::lvt_error, lvt_error);
  t.check((apic.read(xapic::ppr) & 0xf0) == 0x20, "a raised TPR reaches the processor priority (PPR)",
          "PPR 0x%llx", apic.read(xapic::ppr));
  // Lowered: at once, with no other APIC write in between.
  apic.write(xapic::tpr, 0);
  t.check((apic.read(xapic::ppr) & 0xf0) == 0, "a lowered TPR reaches the processor priority at once", "PPR 0x%llx",
          apic.read(xapic::ppr));

  // CR8 is TPR[7:4] (SDM Vol 3A 11.8.6) in both directions.
  write_cr8(3);
  const uint64_t cr8 = read_cr8();
  const uint32_t tpr_after_cr8 = apic.read(xapic::tpr) & 0xff, ppr_after_cr8 = apic.read(xapic::ppr) & 0xf0;
  write_cr8(0);
  t.check(cr8 == 3 && tpr_after_cr8 == 0x30 && ppr_after_cr8 == 0x30, "MOV to CR8 sets the TPR, MOV from CR8 reads it",
          "CR8 %llu, TPR then PPR 0x%llx", cr8, (static_cast<unsigned long long>(tpr_after_cr8) << 8) | ppr_after_cr8);
  t.check(read_cr8() == 0 && (apic.read(xapic::ppr) & 0xf0) == 0, "CR8 cleared: TPR and PPR back to 0",
          "CR8 %llu PPR 0x%llx", read_cr8(), apic.read(xapic::ppr));
  apic.write(xapic::tpr, tpr);

  // Moving the xAPIC page would take its writes out of apexvisor's trap (INIT/STARTUP
  // included): refused with #GP(0) while they are trapped (vmm/apic/apic_base_write.hpp);
  // rewriting the same base is an ordinary write.
  if (hypercall(4).rbx == 1) {  // init_sipi=intercept
    const int moved = guest_probe_wrmsr(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE),
                                        (apic_base_msr & 0xfffull) | 0xfed00000ull);
    const int same = guest_probe_wrmsr(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE), apic_base_msr);
    t.check(moved == vmm::vector::GP && same == kNoFault && arch::rdmsr(arch::Msr::IA32_APIC_BASE) == apic_base_msr,
            "moving the local APIC while its writes are trapped: #GP; the same base is written",
            "vectors %lld and %lld", moved, same);
  }

  count_exits(after);
  char line[200];
  size_t n = 0;
  for (unsigned i = 0; i < kReasonCount; ++i)
    n += vmm::format(line + n, sizeof line - n, "%s%s=%llu", i ? " " : "", kReasons[i].name,
                     static_cast<unsigned long long>(after[i] - before[i]));
  say("local APIC exits during these checks: %s", line);
  arch::write_rflags(flags);
}

}  // namespace guest
