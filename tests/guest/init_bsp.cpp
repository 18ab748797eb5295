// The `init_bsp` guest program (issue P9, item 5): INIT sent to the bootstrap processor
// restarts it at the reset vector (FFFFFFF0H), as hardware does (SDM Vol 3A 10.4: the
// IA32_APIC_BASE.BSP flag decides; an AP waits for a SIPI instead). apexvisor does it in
// both init_sipi modes: an INIT VM exit (native, vmm/handlers/init_sipi.cpp) or the
// sender's intercepted ICR write, posted to the BSP's mailbox with an NMI kick (intercept,
// vmm/apic/ap_runtime.cpp).
//
// The BSP starts code on an AP through MP services (non-blocking: it never gets control back
// anyway), then parks itself with interrupts off in a loop that causes no exit. The AP:
//   1. reads the BSP's exit counters (hypercall exit_counter) twice across a wait: the parked
//      loop runs no CPUID (the baseline the criterion below needs);
//   2. notes where the log ring ends, then sends INIT (assert, de-assert, as Linux does) to the
//      BSP's APIC id through its own local APIC;
//   3. polls, for a bounded number of rounds, the log ring's new text (hypercall read_log) for
//      apexvisor's "INIT to the bootstrap processor: restarted at the reset vector" line and
//      the BSP's CPUID exits: the restarted firmware's reset vector and SEC run CPUID (OVMF's
//      ResetVector and SecMain both do) within the first instructions, which the parked loop
//      never does, so CPUID exits rising show the BSP running firmware code again (OVMF on
//      Bochs 2.7 and 3.0: the first exits after the restart are the MOV to CR0 into protected
//      mode and a CPUID, about 400 AP rounds after the INIT; dozens of CPUIDs follow);
//   4. prints its PASS/FAIL lines and the tally and ends the run itself, by the serial port
//      alone: no UEFI service may be called once the BSP is gone, and the run must end before
//      the restarted firmware gets as far as its own MP initialisation (INIT to the AP).
#include "arch/cpu.hpp"
#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"

namespace guest {
namespace {

constexpr uint64_t kCpuidExit = 10;  // basic exit reason (SDM Vol 3C Appendix C)
// What apexvisor logs when it restarts the BSP (vmm/handlers/init_sipi.cpp).
constexpr char kRestartLine[] = "INIT to the bootstrap processor: restarted at the reset vector (FFFFFFF0H)";
constexpr uint64_t kRingSize = 64 * 1024;  // the log ring read_log reads (vmm/hypercall.hpp)
// Offsets into the ring stay put only until it wraps; at this point it holds a few KiB.
constexpr uint64_t kRingMostBeforeInit = 48 * 1024;
// Bounds on the AP's waits, in rounds of hypercalls and PAUSEs: the BSP's restart shows within
// a few rounds; the run must end long before the restarted firmware starts its APs.
constexpr unsigned kBaselineRounds = 200, kPollRounds = 20000, kPausesPerRound = 200;

struct Shared {
  UINTN bsp;           // the BSP's processor number (= apexvisor's CPU index)
  uint32_t bsp_apic_id;
  volatile uint32_t parked;  // set by the BSP once it loops with interrupts off
  volatile uint32_t ap_ran;
};
Shared g_shared;
Tally g_tally;  // the BSP's checks, then the AP's

// The new log text since INIT (the ring is read in 24-byte pieces).
char g_text[kRingSize + 32];

void pause_round() {
  for (unsigned i = 0; i < kPausesPerRound; ++i) arch::cpu_pause();
}

uint64_t bsp_exits(uint64_t reason, uint64_t* all = nullptr) {
  HypercallResult r = hypercall(1, g_shared.bsp, reason);
  if (all) *all = r.rcx;
  return r.rax == 0 ? r.rbx : ~0ull;
}

// The ring's length now: the first offset read_log answers with fewer than 24 bytes.
uint64_t ring_end() {
  uint64_t lo = 0, hi = kRingSize + 24;  // read(lo) gives bytes; read(hi) gives none
  if (hypercall(2, 0).rcx == 0) return 0;
  while (hi - lo > 24) {
    const uint64_t mid = lo + (hi - lo) / 2;
    (hypercall(2, mid).rcx > 0 ? lo : hi) = mid;
  }
  for (;;) {
    const uint64_t n = hypercall(2, lo).rcx;
    if (n < 24) return lo + n;
    lo += 24;
  }
}

// Appends what the ring holds from offset `*pos` on to g_text.
void read_new_text(uint64_t* pos, uint64_t* length) {
  for (;;) {
    HypercallResult r = hypercall(2, *pos);
    if (r.rax != 0 || r.rcx == 0) return;
    const uint64_t words[3] = {r.rdx, r.rsi, r.rdi};
    for (uint64_t i = 0; i < r.rcx && *length < kRingSize; ++i)
      g_text[(*length)++] = static_cast<char>(words[i / 8] >> (8 * (i % 8)));
    *pos += r.rcx;
    if (r.rcx < 24) return;
  }
}

bool contains(const char* text, uint64_t length, const char* needle) {
  uint64_t n = 0;
  while (needle[n]) ++n;
  for (uint64_t i = 0; i + n <= length; ++i) {
    uint64_t j = 0;
    while (j < n && text[i + j] == needle[j]) ++j;
    if (j == n) return true;
  }
  return false;
}

[[noreturn]] void EFIAPI on_ap(void*) {
  Tally& t = g_tally;
  g_shared.ap_ran = 1;
  for (unsigned round = 0; round < 100000 && !g_shared.parked; ++round) pause_round();
  t.check(g_shared.parked == 1, "init_bsp: the BSP parks itself with interrupts off");

  // The baseline: the parked BSP runs no CPUID.
  const uint64_t cpuid_parked = bsp_exits(kCpuidExit);
  for (unsigned round = 0; round < kBaselineRounds; ++round) {
    (void)hypercall(0);  // a VM exit on this CPU per round, as in the poll below
    pause_round();
  }
  uint64_t all_before = 0;
  const uint64_t cpuid_before = bsp_exits(kCpuidExit, &all_before);
  t.check(cpuid_before != ~0ull && cpuid_before == cpuid_parked,
          "init_bsp: the parked BSP runs no CPUID (its CPUID exits stay put)", "CPUID exits %llu, then %llu",
          cpuid_parked, cpuid_before);

  uint64_t pos = ring_end(), length = 0;
  const bool ring_ok = pos <= kRingMostBeforeInit;
  t.check(ring_ok, "init_bsp: the log ring has room for the lines after INIT", "%llu bytes in it", pos);

  const LocalApic apic = LocalApic::current();
  say("init_bsp: the AP sends INIT (assert, de-assert) to the BSP, APIC id %u", g_shared.bsp_apic_id);
  apic.send(g_shared.bsp_apic_id, kIcrInitAssert);
  apic.send(g_shared.bsp_apic_id, kIcrInitDeassert);

  bool logged = false, ran = false;
  uint64_t cpuid_after = cpuid_before, all_after = all_before;
  unsigned rounds = 0;
  for (; rounds < kPollRounds && !(logged && ran); ++rounds) {
    pause_round();
    if (!logged && ring_ok) {
      read_new_text(&pos, &length);
      logged = contains(g_text, length, kRestartLine);
    }
    cpuid_after = bsp_exits(kCpuidExit, &all_after);
    ran = cpuid_after != ~0ull && cpuid_after > cpuid_before;
  }
  say("init_bsp: after INIT, within %u of %u rounds: restart line logged %u, BSP exits +%llu, CPUID exits +%llu",
      rounds, kPollRounds, logged ? 1u : 0u, static_cast<unsigned long long>(all_after - all_before),
      static_cast<unsigned long long>(cpuid_after - cpuid_before));
  t.check(logged, "init_bsp: apexvisor logs the BSP's restart at the reset vector (read through read_log)",
          "%llu new bytes in the ring, no restart line", length);
  t.check(ran, "init_bsp: the BSP runs the firmware's reset code again (its CPUID exits rise)",
          "CPUID exits %llu, then %llu", cpuid_before, cpuid_after);
  say("init_bsp: tally pass=%u fail=%u", t.pass, t.fail);
  end_run_without_firmware(t.fail ? 1 : 0);
}

void run_init_bsp(Tally& t, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  MpServices m{};
  if (!find_mp_services(st, &m) || m.total < 2) {
    say("SKIP init_bsp: no second CPU to send INIT from");
    return;
  }
  efi::ProcessorInformation info{};
  EFI_STATUS s = m.mp->get_processor_info(m.mp, m.self, &info);
  t.check(!EFI_ERROR(s) && (info.status_flag & efi::kProcessorAsBsp),
          "init_bsp: MP services give the BSP's APIC id", "status 0x%llx flags 0x%llx", s, info.status_flag);
  if (EFI_ERROR(s)) return;
  g_shared.bsp = m.self;
  g_shared.bsp_apic_id = static_cast<uint32_t>(info.processor_id);
  const UINTN ap = m.self == 0 ? 1 : 0;
  say("init_bsp: BSP processor %llu, APIC id %u; the AP is processor %llu", static_cast<unsigned long long>(m.self),
      g_shared.bsp_apic_id, static_cast<unsigned long long>(ap));

  EFI_EVENT ev = nullptr;
  s = bs->CreateEvent(0, 0, nullptr, nullptr, &ev);
  if (!EFI_ERROR(s)) s = m.mp->startup_this_ap(m.mp, on_ap, ap, ev, 0, nullptr, nullptr);
  t.check(!EFI_ERROR(s), "init_bsp: MP services start the code on the AP", "status 0x%llx", s);
  if (EFI_ERROR(s)) return;
  // From here on the AP reports. The BSP loops with interrupts off and no exiting
  // instruction until the INIT restarts it; a bounded wait, should the AP never run.
  arch::cli();
  g_shared.parked = 1;
  for (uint64_t spin = 0; spin < (1ull << 31); ++spin) arch::cpu_pause();
  asm volatile("sti" ::: "memory");
  t.check(false, "init_bsp: the BSP is restarted before its wait ends", "ap ran %llu", g_shared.ap_ran);
}

}  // namespace
}  // namespace guest

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  guest::probes_prepare();
  guest::run_init_bsp(guest::g_tally, st);
  // Reached only when the AP could not be started (or never sent its INIT).
  guest::say("init_bsp: tally pass=%u fail=%u", guest::g_tally.pass, guest::g_tally.fail);
  guest::end_run(1);
}
