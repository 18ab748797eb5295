#include "tests/guest/selftest_checks.hpp"

#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "vmm/log/format.hpp"

namespace guest {
namespace {
constexpr int kGP = 13, kUD = 6;
constexpr uint64_t kApexSignature = 0x78657061;  // 'apex'
constexpr uint32_t kExitReasonCpuid = 10;
}  // namespace

void Tally::check(bool ok, const char* name, const char* detail_fmt, unsigned long long a, unsigned long long b) {
  if (ok) {
    ++pass;
    say("PASS %s", name);
    return;
  }
  ++fail;
  char detail[160];
  vmm::format(detail, sizeof detail, detail_fmt, a, b);
  say("FAIL %s: %s", name, detail);
}

void run_cpu_checks(Tally& t) {
  auto l1 = arch::cpuid(1);
  t.check(l1.ecx & (1u << 31), "cpuid hypervisor-present bit (CPUID.1:ECX[31])", "ecx=0x%llx", l1.ecx);
  t.check(!(l1.ecx & (1u << 5)), "cpuid VMX bit hidden (CPUID.1:ECX[5])", "ecx=0x%llx", l1.ecx);
  auto h = arch::cpuid(0x40000000);
  char sig[13] = {};
  for (int i = 0; i < 4; ++i) {
    sig[i] = static_cast<char>(h.ebx >> (8 * i));
    sig[4 + i] = static_cast<char>(h.ecx >> (8 * i));
    sig[8 + i] = static_cast<char>(h.edx >> (8 * i));
  }
  const char* expect = "apexvisor";
  bool same = true;
  for (int i = 0; i < 12; ++i) same &= sig[i] == (i < 9 ? expect[i] : 0);
  t.check(same, "cpuid 0x40000000 signature 'apexvisor'", "ebx=0x%llx ecx=0x%llx", h.ebx, h.ecx);
  t.check(h.eax >= 0x40000001, "cpuid 0x40000000 max leaf >= 0x40000001", "eax=0x%llx", h.eax);
  // APX: this platform (Bochs, QEMU TCG) has none, so every place that would show it must not.
  bool host_apx = arch::cpuid(7, 1).edx & (1u << 21);
  if (!host_apx) {
    auto d = arch::cpuid(0xd, 0);
    t.check(!(d.eax & (1u << 19)), "APX absent: CPUID.(0Dh,0).EAX[19] clear", "eax=0x%llx", d.eax);
    auto d19 = arch::cpuid(0xd, 19);
    t.check(d19.eax == 0 && d19.ebx == 0, "APX absent: CPUID.(0Dh,19) empty", "eax=0x%llx ebx=0x%llx", d19.eax, d19.ebx);
  } else {
    say("SKIP APX-absent checks: this CPU enumerates APX");
  }
}

void run_xsetbv_checks(Tally& t) {
  if (!(arch::cpuid(1).ecx & (1u << 26))) {
    say("SKIP xsetbv checks: no XSAVE on this CPU");
    return;
  }
  // XSETBV needs CR4.OSXSAVE (else #UD before any VM exit); OVMF may leave it clear.
  uint64_t cr4 = arch::read_cr4();
  if (!(cr4 & arch::cr4::OSXSAVE)) arch::write_cr4(cr4 | arch::cr4::OSXSAVE);
  const uint64_t cur = arch::xgetbv(0);
  auto d = arch::cpuid(0xd, 0);
  const uint64_t supported = (static_cast<uint64_t>(d.edx) << 32) | d.eax;
  t.check(guest_probe_xsetbv(0, cur) == kNoFault, "xsetbv of the current XCR0 accepted", "xcr0=0x%llx", cur);
  t.check(guest_probe_xsetbv(0, 0x3) == kNoFault && arch::xgetbv(0) == 0x3, "xsetbv x87|SSE accepted", "xcr0 now 0x%llx",
          arch::xgetbv(0));
  if (supported & 0x4)
    t.check(guest_probe_xsetbv(0, 0x7) == kNoFault && arch::xgetbv(0) == 0x7, "xsetbv x87|SSE|AVX accepted",
            "xcr0 now 0x%llx", arch::xgetbv(0));
  struct Bad {
    uint32_t ecx;
    uint64_t value;
    const char* name;
  } const bad[] = {
      {1, 0x3, "xsetbv ECX=1 raises #GP"},
      {0, 0x2, "xsetbv without x87 (bit 0) raises #GP"},
      {0, 0x5, "xsetbv AVX without SSE raises #GP"},
      {0, 0x7 | 0x20 | 0x80, "xsetbv partial AVX-512 set raises #GP"},
      {0, 0x3 | (1ull << 10), "xsetbv reserved bit 10 raises #GP"},
      {0, 0x3 | (1ull << 63), "xsetbv reserved bit 63 raises #GP"},
      {0, 0x3 | (1ull << 19), "xsetbv APX (bit 19) without APX exposed raises #GP"},
  };
  for (const Bad& b : bad) {
    int v = guest_probe_xsetbv(b.ecx, b.value);
    t.check(v == kGP, b.name, "vector %lld (expected 13)", static_cast<long long>(v));
  }
  t.check(guest_probe_xsetbv(0, cur) == kNoFault && arch::xgetbv(0) == cur, "xsetbv restores the original XCR0",
          "xcr0 now 0x%llx", arch::xgetbv(0));
}

void run_privileged_checks(Tally& t) {
  uint64_t cr4 = arch::read_cr4();
  t.check(!(cr4 & arch::cr4::VMXE), "CR4.VMXE reads as 0", "cr4=0x%llx", cr4);
  int v = guest_probe_write_cr4(cr4 | arch::cr4::VMXE);
  t.check(v == kGP, "setting CR4.VMXE raises #GP", "vector %lld", static_cast<long long>(v));
  static uint8_t region[4096] __attribute__((aligned(4096)));
  v = guest_probe_vmxon(reinterpret_cast<uint64_t>(region));
  t.check(v == kUD, "VMXON raises #UD", "vector %lld", static_cast<long long>(v));
  uint64_t val = 0;
  v = guest_probe_rdmsr(0x480, &val);
  t.check(v == kGP, "RDMSR IA32_VMX_BASIC raises #GP", "vector %lld", static_cast<long long>(v));
  v = guest_probe_rdmsr(0x3a, &val);
  t.check(v == kNoFault && (val & 1) && !(val & 4), "IA32_FEATURE_CONTROL reads locked with VMX off",
          "vector %lld value 0x%llx", static_cast<long long>(v), val);
  // The hypervisor passes unknown MSRs to the hardware with a fault-safe access: the guest
  // gets whatever the CPU gives (#GP on silicon; Bochs returns 0 without a fault), and the
  // host survives either way. Any other vector would be a wrong answer.
  v = guest_probe_rdmsr(0xdeadbeef, &val);
  t.check(v == kGP || v == kNoFault, "RDMSR of a nonexistent MSR gives the hardware's answer (host survives)",
          "vector %lld", static_cast<long long>(v));
}

void run_hypercall_checks(Tally& t) {
  HypercallResult r = hypercall(0);
  t.check(r.fault == kNoFault && r.rax == 0 && r.rbx == 1 && r.rcx == kApexSignature, "hypercall version",
          "rax=0x%llx rbx=0x%llx", r.rax, r.rbx);
  HypercallResult before = hypercall(1, 0, kExitReasonCpuid);
  for (int i = 0; i < 10; ++i) arch::cpuid(0);
  HypercallResult after = hypercall(1, 0, kExitReasonCpuid);
  t.check(before.fault == kNoFault && before.rax == 0 && before.rbx > 0, "exit counter for CPUID is non-zero",
          "rax=0x%llx count=%llu", before.rax, before.rbx);
  t.check(after.rbx >= before.rbx + 10, "exit counter grows with each CPUID", "before %llu after %llu", before.rbx,
          after.rbx);
  HypercallResult bad = hypercall(0xffff);
  t.check(bad.fault == kUD, "unknown hypercall raises #UD", "vector %lld", static_cast<long long>(bad.fault));
}

namespace {
struct ApProbe {
  volatile uint32_t hypervisor_bit;
  volatile uint32_t ran;
};
void EFIAPI on_ap(void* arg) {
  auto* p = static_cast<ApProbe*>(arg);
  p->hypervisor_bit = (arch::cpuid(1).ecx >> 31) & 1;
  p->ran = 1;
}
}  // namespace

void run_ap_checks(Tally& t, EFI_SYSTEM_TABLE* st) {
  // OVMF wakes APs for StartupThisAP with INIT-SIPI-SIPI. Bochs 2.7 keeps INIT pending after
  // an INIT VM exit, so a virtualized AP woken natively never runs again there: this check
  // needs apexvisor to start APs itself (init_sipi=intercept, issue P6). The hypervisor says
  // which mode it runs (hypercall 4).
  HypercallResult mode = hypercall(4);
  if (mode.fault != kNoFault || mode.rax != 0 || mode.rbx != 1) {
    say("SKIP code on every AP through MP services: INIT/SIPI are handled natively (init_sipi mode %llu); "
        "OVMF wakes APs with INIT-SIPI-SIPI and Bochs 2.7 keeps INIT pending after an INIT exit (issue P6)",
        static_cast<unsigned long long>(mode.rbx));
    return;
  }
  EFI_GUID guid = efi::kMpServicesGuid;
  void* iface = nullptr;
  if (EFI_ERROR(st->BootServices->LocateProtocol(&guid, nullptr, &iface))) {
    say("SKIP AP checks: no MP services");
    return;
  }
  auto* mp = static_cast<efi::MpServicesProtocol*>(iface);
  UINTN total = 0, enabled = 0, self = 0;
  mp->get_number_of_processors(mp, &total, &enabled);
  mp->who_am_i(mp, &self);
  // OVMF restarts the AP with INIT-SIPI-SIPI for each StartupThisAP: two rounds restart
  // every AP twice, and each time the code must run (issue P6).
  for (unsigned round = 1; round <= 2; ++round) {
    for (UINTN i = 0; i < total; ++i) {
      if (i == self) continue;
      ApProbe p{0, 0};
      EFI_STATUS s = mp->startup_this_ap(mp, on_ap, i, nullptr, 10ull * 1000 * 1000, &p, nullptr);
      char name[80];
      vmm::format(name, sizeof name, "code runs on AP %llu after virtualization (start %u)",
                  static_cast<unsigned long long>(i), round);
      t.check(!EFI_ERROR(s) && p.ran && p.hypervisor_bit, name, "status 0x%llx ran=%llu", s, p.ran);
    }
  }
}

}  // namespace guest
