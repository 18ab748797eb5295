// The native INIT/SIPI path's details, seen from a guest (issue P13). With init_sipi=native
// the INIT, STARTUP and NMI the guest sends through its local APIC reach the AP as hardware
// delivers them: INIT as an INIT VM exit (apexvisor parks the vCPU in wait-for-SIPI,
// vmm/handlers/init_sipi.cpp), STARTUP as a SIPI VM exit only in wait-for-SIPI (apexvisor
// loads the post-INIT state, vmm/handlers/reset_state.cpp), everything else blocked or
// discarded by the CPU (SDM Vol 3C, VM Entries, the activity state after VM entry: the active
// and HLT states discard SIPIs; wait-for-SIPI blocks external interrupts, NMIs, INITs and
// SMIs, which stay pending until the CPU leaves that state). Each check
// states what the AP must show, as recorded by its trampoline (ap_trampoline.S) or counted by
// its loop. Never sent to the BSP: INIT there would boot the firmware again.
#include "arch/cpu.hpp"
#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"

extern "C" const uint8_t ap_trampoline_start[], ap_trampoline_nmi[];

namespace guest {
namespace {

// Table 10-1 (SDM Vol 3A): the register state after INIT. The control registers, EFER, DR7
// and the data segments are check_arrival_state's (ap_arrival_state_checks.cpp).
constexpr uint32_t kEflagsAfterInit = 0x2;
// Values no register holds after INIT, written into the record before a start: a field the
// trampoline did not write reads as this.
constexpr uint32_t kUnwritten = 0xa5a5a5a5;

// Real-mode IVT entry 2 (NMI) and the stack an NMI uses before the trampoline sets its own:
// IDTR base 0 and SS:SP = 0:0 after INIT, so the push lands at 0:FFFA (the offset wraps).
constexpr uint64_t kLowIvtNmi = 2 * 4;
constexpr uint64_t kLowStack = 0xfff0;

// Whether the AP's loop is counting: two reads `us` apart differ.
bool looping(EFI_BOOT_SERVICES* bs, const ApTrampolineRecord& rec, unsigned us = 5000) {
  const uint32_t before = rec.beat;
  bs->Stall(us);
  return rec.beat != before;
}

void mark_unwritten(ApTrampolineRecord& rec) {
  volatile uint32_t* const fields[] = {&rec.eax, &rec.ebx, &rec.ecx, &rec.edx, &rec.esi,
                                       &rec.edi, &rec.ebp, &rec.esp, &rec.eflags};
  for (volatile uint32_t* field : fields) *field = kUnwritten;
  rec.cs = 0xa5a5;
  rec.ip = 0xa5a5;
  mark_arrival_unwritten(rec);
}

void init(const ApTarget& ap) {
  ap.apic.send(ap.apic_id, kIcrInitAssert);
  ap.apic.send(ap.apic_id, kIcrInitDeassert);
}
void startup(const ApTarget& ap) { ap.apic.send(ap.apic_id, kIcrStartup | static_cast<uint32_t>(ap.page >> 12)); }

}  // namespace

void run_native_init_sipi_checks(Tally& t, EFI_BOOT_SERVICES* bs, ApTarget& ap) {
  ApTrampolineRecord& rec = *ap.rec;
  const uint32_t vector = static_cast<uint32_t>(ap.page >> 12);
  const uint32_t signature = arch::cpuid(1).eax;
  say("native INIT/SIPI: AP APIC id %u, STARTUP vector 0x%x", ap.apic_id, vector);

  // The AP halts in the trampoline. Start it once more, now to loop: guest code that runs.
  rec.spin = 1;
  init(ap);
  bs->Stall(10000);
  startup(ap);
  bool ran = wait_for_runs(bs, rec, ap.runs + 1, 2000000);
  if (ran) ++ap.runs;
  t.check(ran && looping(bs, rec), "native: INIT-SIPI starts the AP's loop", "runs %llu beat %llu", rec.runs, rec.beat);
  if (!ran) return;

  // STARTUP without INIT to a CPU that runs: the active state discards it (see the top);
  // the loop goes on and the trampoline does not run again.
  startup(ap);
  bs->Stall(20000);
  t.check(rec.runs == ap.runs && looping(bs, rec), "native: STARTUP without INIT to a running AP is ignored: its loop goes on",
          "runs %llu, expected %llu", rec.runs, ap.runs);

  // INIT while the loop runs: the CPU stops (wait-for-SIPI); INIT-SIPI-SIPI's second
  // STARTUP reaches a CPU that already runs and is discarded: the trampoline runs once.
  mark_unwritten(rec);
  init(ap);
  bs->Stall(10000);
  t.check(rec.runs == ap.runs && !looping(bs, rec), "native: INIT to the AP running its loop stops it (wait-for-SIPI)",
          "runs %llu, expected %llu", rec.runs, ap.runs);
  startup(ap);
  bs->Stall(200);
  startup(ap);
  ran = wait_for_runs(bs, rec, ap.runs + 1, 2000000);
  bs->Stall(20000);  // time for a wrongly honoured second STARTUP to show
  t.check(ran && rec.runs == ap.runs + 1 && looping(bs, rec),
          "native: INIT-SIPI-SIPI restarts the running AP exactly once (the second STARTUP is ignored)",
          "runs %llu, expected %llu", rec.runs, ap.runs + 1);
  if (!ran) return;
  ap.runs = rec.runs;
  // What the trampoline saw first (SDM Vol 3A Table 10-1 and 11.6.1): CS:IP = vector<<8:0,
  // EFLAGS 2, EDX the signature, every other GPR 0; then the control registers and segments.
  const uint64_t cs_ip = (uint64_t{rec.cs} << 16) | rec.ip, want_cs_ip = uint64_t{vector << 8} << 16;
  t.check(cs_ip == want_cs_ip && rec.eflags == kEflagsAfterInit,
          "native: the restarted AP starts at CS:IP=vector<<8:0 with EFLAGS=2",
          "cs<<16|ip 0x%llx, eflags 0x%llx", cs_ip, rec.eflags);
  const uint32_t others = rec.eax | rec.ebx | rec.ecx | rec.esi | rec.edi | rec.ebp | rec.esp;
  t.check(rec.edx == signature && others == 0,
          "native: the restarted AP's EDX is CPUID.1:EAX, EAX EBX ECX ESI EDI EBP ESP are 0",
          "edx 0x%llx, the others or-ed 0x%llx", rec.edx, others);
  check_arrival_state(t, rec, "native: ", " (restarted from its loop)");

  // INIT to a CPU already in wait-for-SIPI is blocked (see the top): a second INIT changes
  // nothing, the one STARTUP after it starts the CPU once.
  init(ap);
  bs->Stall(10000);
  init(ap);
  bs->Stall(10000);
  const bool waited = rec.runs == ap.runs && !looping(bs, rec);
  startup(ap);
  ran = wait_for_runs(bs, rec, ap.runs + 1, 2000000);
  bs->Stall(20000);
  t.check(waited && ran && rec.runs == ap.runs + 1 && looping(bs, rec),
          "native: INIT to an AP waiting for SIPI changes nothing: one STARTUP starts it once",
          "waited %llu, runs %llu", waited, rec.runs);
  if (!ran) return;
  ap.runs = rec.runs;

  // NMI to a CPU in wait-for-SIPI: blocked, not discarded (see the top; SIPIs
  // in the active and HLT states are the ones discarded): it
  // neither wakes the CPU nor runs a handler while the CPU waits, and is taken once the
  // STARTUP has made the CPU active, before its first instruction, through the real-mode IVT
  // at 0. That entry points at the trampoline's NMI handler meanwhile, so the NMI is counted
  // instead of running whatever the firmware left there; the entry and the stack bytes the
  // NMI pushes (SS:SP = 0:0 after INIT: at 0:FFFA) are restored afterwards.
  init(ap);
  bs->Stall(10000);
  volatile uint32_t* ivt_nmi = low<uint32_t>(kLowIvtNmi);
  volatile uint64_t* stack = low<uint64_t>(kLowStack);
  const uint32_t saved_ivt = *ivt_nmi;
  const uint64_t saved_stack[2] = {stack[0], stack[1]};
  *ivt_nmi = (vector << 24) | static_cast<uint32_t>(ap_trampoline_nmi - ap_trampoline_start);
  rec.nmis = 0;
  ap.apic.send(ap.apic_id, kIcrNmi);
  bs->Stall(20000);
  const uint64_t before_sipi = (uint64_t{rec.runs - ap.runs} << 32) | rec.nmis;
  startup(ap);
  ran = wait_for_runs(bs, rec, ap.runs + 1, 2000000);
  bs->Stall(20000);
  rec.spin = 0;  // park it in HLT again for what follows
  bs->Stall(10000);
  *ivt_nmi = saved_ivt;
  stack[0] = saved_stack[0];
  stack[1] = saved_stack[1];
  t.check(before_sipi == 0, "native: an NMI to an AP waiting for SIPI neither starts it nor runs its handler",
          "runs since<<32 | NMIs 0x%llx", before_sipi);
  const uint64_t after = (uint64_t{rec.runs - ap.runs} << 32) | rec.nmis;
  t.check(ran && after == ((uint64_t{1} << 32) | 1),
          "native: one STARTUP starts the AP once, and the NMI held while it waited is taken once",
          "runs since<<32 | NMIs 0x%llx", after);
  if (ran) ap.runs = rec.runs;
}

}  // namespace guest
