// A guest that starts an AP itself (issue P6): the BSP copies a real-mode trampoline
// (ap_trampoline.S) below 1 MiB and sends INIT-SIPI-SIPI through its own local APIC, as an
// operating system does — xAPIC ICR writes at IA32_APIC_BASE, or the x2APIC ICR MSR when the
// firmware left x2APIC on. Under apexvisor those writes are intercepted (init_sipi=intercept)
// or reach the hardware and come back as INIT/SIPI exits (native); either way the AP must run
// the trampoline once per INIT + STARTUP, in real mode at vector × 4096 with the INIT state.
// Done twice, a third time through the x2APIC ICR MSR, then a lone STARTUP (no INIT before it)
// that must start nothing; with init_sipi=native the details of that path follow
// (ap_native_init_checks.cpp); then the AP is handed back to the firmware's MP services, which
// must still be able to run code on it.
#include "arch/cpu.hpp"
#include "arch/msr.hpp"
#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/legacy_ap.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/log/format.hpp"

extern "C" const uint8_t ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_rdmsr[];

namespace guest {
namespace {

struct ApProbe {
  volatile uint32_t ran;
};
void EFIAPI on_ap(void* arg) { static_cast<ApProbe*>(arg)->ran = 1; }

}  // namespace

void run_ap_restart_checks(Tally& t, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  MpServices m{};
  if (!find_mp_services(st, &m)) {
    say("SKIP AP restart by INIT-SIPI-SIPI: no MP services to find an AP's APIC id");
    return;
  }
  if (m.total < 2) {
    say("SKIP AP restart by INIT-SIPI-SIPI: one CPU");
    return;
  }
  efi::MpServicesProtocol* mp = m.mp;
  const UINTN ap = m.self == 0 ? 1 : 0;
  efi::ProcessorInformation info{};
  EFI_STATUS s = mp->get_processor_info(mp, ap, &info);
  t.check(!EFI_ERROR(s), "MP services give the AP's APIC id", "status 0x%llx", s);
  if (EFI_ERROR(s)) return;
  const auto apic_id = static_cast<uint32_t>(info.processor_id);

  // A page below 1 MiB (a STARTUP vector is a page number 0x01-0xff, not 0xa0-0xbf: SDM Vol 3A
  // 8.4.4.1 reserves those); it stays allocated, the AP halts in it until it is taken back.
  EFI_PHYSICAL_ADDRESS page = 0x9f000;
  s = bs->AllocatePages(AllocateMaxAddress, EfiLoaderData, 1, &page);
  t.check(!EFI_ERROR(s) && page >= 0x1000, "a page below 1 MiB for the AP's real-mode code", "status 0x%llx page 0x%llx",
          s, page);
  if (EFI_ERROR(s) || page < 0x1000) return;
  auto* code = reinterpret_cast<uint8_t*>(page);
  const auto size = static_cast<size_t>(ap_trampoline_end - ap_trampoline_start);
  for (size_t i = 0; i < 4096; ++i) code[i] = i < size ? ap_trampoline_start[i] : 0;
  auto& rec = *reinterpret_cast<ApTrampolineRecord*>(page + kRecordOffset);
  const auto vector = static_cast<uint32_t>(page >> 12);
  // The pattern the AP reads through its data segments (bases 0 after INIT), until the end.
  const ApSegmentProbe segment_probe;

  // Restart `round`: Linux's sequence (start_ap: INIT assert, INIT de-assert, 10 ms, STARTUP,
  // 200 µs, STARTUP). The second STARTUP reaches a running AP and must be ignored (the run count says so).
  const uint32_t signature = arch::cpuid(1).eax;
  auto restart = [&](const LocalApic& apic, uint32_t round) {
    say("AP restart %u: APIC id %u through the %s ICR, STARTUP vector 0x%x", round, apic_id,
        apic.x2apic ? "x2APIC" : "xAPIC", vector);
    rec.edx = 0;
    rec.esp = ~0u;
    rec.cpuid1_ecx = 0;
    rec.cs = 0xffff;
    rec.msw = 0xffff;
    rec.gp_count = 0;
    rec.gp_ip = 0xffff;
    rec.gp_cs = 0xffff;
    rec.after_gp = 0;
    mark_arrival_unwritten(rec);
    start_ap(bs, apic, apic_id, vector);
    const bool ran = wait_for_runs(bs, rec, round, 2000000);
    bs->Stall(20000);  // time for a wrongly honoured second STARTUP to show
    char name[96];
    vmm::format(name, sizeof name, "INIT-SIPI-SIPI from the guest starts the AP (restart %u)", round);
    t.check(ran && rec.runs == round, name, "runs %llu, expected %llu", rec.runs, round);
    if (!ran) return false;
    vmm::format(name, sizeof name, "AP starts in real mode at CS=vector<<8 (restart %u)", round);
    t.check(rec.cs == (vector << 8) && !(rec.msw & 1), name, "cs 0x%llx msw 0x%llx", rec.cs, rec.msw);
    vmm::format(name, sizeof name, "AP arrives with INIT's EDX (signature) and ESP=0 (restart %u)", round);
    t.check(rec.edx == signature && rec.esp == 0, name, "edx 0x%llx esp 0x%llx", rec.edx, rec.esp);
    vmm::format(name, sizeof name, "AP's real-mode CPUID still shows the hypervisor (restart %u)", round);
    t.check(rec.cpuid1_ecx & (1u << 31), name, "cpuid.1 ecx 0x%llx", rec.cpuid1_ecx);
    // #GP in real mode: IP and CS where the CPU pushes them (no error code), once, and on.
    const auto rdmsr_ip = static_cast<uint32_t>(ap_trampoline_rdmsr - ap_trampoline_start);
    vmm::format(name, sizeof name, "AP's real-mode RDMSR of a hidden MSR: #GP through the IVT, no error code (restart %u)",
                round);
    // One word each, as #GPs taken << 40 | went on << 32 | CS << 16 | IP (the check has two values).
    const auto seen = (uint64_t{rec.gp_count} << 40) | (uint64_t{rec.after_gp} << 32) | (uint64_t{rec.gp_cs} << 16) | rec.gp_ip;
    const auto want = (uint64_t{1} << 40) | (uint64_t{1} << 32) | (uint64_t{vector << 8} << 16) | rdmsr_ip;
    t.check(seen == want, name, "seen 0x%llx, expected 0x%llx (#GPs<<40 | went on<<32 | cs<<16 | ip)", seen, want);
    char suffix[24];
    vmm::format(suffix, sizeof suffix, " (restart %u)", round);
    check_arrival_state(t, rec, "", suffix);
    return true;
  };

  // Twice in the APIC mode the firmware left, then once more through the x2APIC ICR MSR
  // (0x830, the other intercept) after switching this CPU to x2APIC — which the firmware's
  // LocalApicLib follows, as it reads the mode on every access. The switch stays: leaving
  // x2APIC needs the APIC disabled, which would reset the firmware's LINT0 set-up.
  LocalApic apic = LocalApic::current();
  uint32_t rounds = 0;
  for (; rounds < 2; ++rounds)
    if (!restart(apic, rounds + 1)) return;
  if (apic.x2apic) {
    say("SKIP AP restart through the x2APIC ICR after switching: the firmware runs in x2APIC already");
  } else if (!(arch::cpuid(1).ecx & (1u << 21))) {
    say("SKIP AP restart through the x2APIC ICR: this CPU has no x2APIC (CPUID.1:ECX[21]=0)");
  } else {
    arch::wrmsr(arch::Msr::IA32_APIC_BASE, arch::rdmsr(arch::Msr::IA32_APIC_BASE) | kApicBaseX2apic);
    apic = LocalApic::current();
    t.check(apic.x2apic, "this CPU switches to x2APIC mode", "IA32_APIC_BASE 0x%llx",
            arch::rdmsr(arch::Msr::IA32_APIC_BASE));
    if (!apic.x2apic || !restart(apic, ++rounds)) return;
  }

  // STARTUP without INIT reaches a running (halted) CPU: ignored, as on hardware (11.6.1).
  apic.send(apic_id, kIcrStartup | vector);
  bs->Stall(20000);
  t.check(rec.runs == rounds, "STARTUP without INIT starts nothing", "runs %llu, expected %llu", rec.runs, rounds);

  // Native INIT/SIPI only: there the INIT, STARTUP and NMI the guest sends reach the AP as the
  // hardware delivers them (VM exits or nothing); intercepted, apexvisor emulates the ICR.
  if (hypercall(4).rbx == 0) {
    ApTarget target{apic, apic_id, page, &rec, rounds};
    run_native_init_sipi_checks(t, bs, target);
  }

  // The firmware wakes the AP with its own INIT-SIPI-SIPI: it must get its AP back.
  ApProbe probe{0};
  s = mp->startup_this_ap(mp, on_ap, ap, nullptr, 10ull * 1000 * 1000, &probe, nullptr);
  t.check(!EFI_ERROR(s) && probe.ran, "MP services run code on the AP after the guest restarted it",
          "status 0x%llx ran=%llu", s, probe.ran);
}

}  // namespace guest
