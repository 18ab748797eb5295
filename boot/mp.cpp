#include "boot/mp.hpp"

#include "boot/console.hpp"
#include "boot/efi/efi.hpp"
#include "boot/firmware.hpp"
#include "vmm/log/log.hpp"

namespace boot {
namespace {

efi::MpServicesProtocol* g_mp = nullptr;
CpuInfo g_cpus[kMaxCpus];
unsigned g_count = 0;
uint64_t g_reported = 0;
unsigned g_bsp_index = 0;

// Generous: under Bochs an AP's work can take seconds of emulated time.
constexpr UINTN kApTimeoutUs = 60ull * 1000 * 1000;

// What every AP of one StartupAllAPs call gets (read-only while the APs run).
struct ApRound;
struct AllApsCall {
  ApRound* round;
  ProbeFn probe;
  void* probe_arg;
  LaunchFn launch;  // on the APs once the round decided to launch
  void* launch_arg;
};

// The round's decision, settled once by compare-and-swap from pending: cancel by the first
// AP not ready or out of patience, launch by the one that sees every enabled AP answer ready.
// Every AP follows the settled value, a late one included.
enum : uint32_t { kRoundPending, kRoundLaunch, kRoundCancel };
struct ApRound {
  uint32_t decision;
  uint32_t answered;  // APs that finished their probe
  uint32_t expected;  // enabled APs
  bool launch_allowed;
};
ApRound g_round;
AllApsCall g_round_call;  // read-only while the APs run

// How long an AP that answered waits for the others, in TSC ticks: far longer than a broadcast
// wake-up takes to reach every AP, and (at Bochs' 50,000,000 ticks a second: 43 s) shorter
// than MP services' own kApTimeoutUs, after which the firmware resets the APs still running.
constexpr uint64_t kRoundPatienceTicks = 1ull << 31;

void settle(ApRound* r, uint32_t decision) {
  uint32_t pending = kRoundPending;
  __atomic_compare_exchange_n(&r->decision, &pending, decision, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

// Per CPU index: whether that AP ran the procedure of the current StartupAllAPs call. Each AP
// writes only its own slot (release), the BSP clears them before the call and reads them after
// it (acquire): no slot is written by two CPUs at once.
bool g_ran[kMaxCpus];

void mark_ran(unsigned index) { __atomic_store_n(&g_ran[index], true, __ATOMIC_RELEASE); }
bool ran(unsigned index) { return __atomic_load_n(&g_ran[index], __ATOMIC_ACQUIRE); }

}  // namespace

unsigned mp_init() {
  EFI_GUID guid = efi::kMpServicesGuid;
  void* iface = nullptr;
  EFI_STATUS s = firmware().bs->LocateProtocol(&guid, nullptr, &iface);
  static uint32_t apic_ids[kMaxCpus];  // 4 KiB: off the firmware's small stack
  if (EFI_ERROR(s)) {
    APEX_LOG(warn, "EFI_MP_SERVICES_PROTOCOL not found (%s): treating the machine as one CPU", efi::status_name(s));
    g_count = 1;
    g_reported = 1;
    g_cpus[0] = {0, true, true};
    g_bsp_index = 0;
  } else {
    g_mp = static_cast<efi::MpServicesProtocol*>(iface);
    UINTN total = 0, enabled = 0;
    g_mp->get_number_of_processors(g_mp, &total, &enabled);
    g_reported = total;
    g_count = total > kMaxCpus ? kMaxCpus : static_cast<unsigned>(total);
    for (unsigned i = 0; i < g_count; ++i) {
      efi::ProcessorInformation info = {};
      g_mp->get_processor_info(g_mp, i, &info);
      g_cpus[i] = {static_cast<uint32_t>(info.processor_id), (info.status_flag & efi::kProcessorAsBsp) != 0,
                   (info.status_flag & efi::kProcessorEnabled) != 0};
      if (g_cpus[i].bsp) g_bsp_index = i;
    }
  }
  for (unsigned i = 0; i < g_count; ++i) apic_ids[i] = g_cpus[i].apic_id;
  console_set_cpus(apic_ids, g_count);
  return g_count;
}

unsigned cpu_count() { return g_count; }
uint64_t cpus_reported_by_firmware() { return g_reported; }
const CpuInfo& cpu_info(unsigned index) { return g_cpus[index]; }
bool mp_available() { return g_mp != nullptr; }

namespace {

// The AP's own index: MP services' processor number (PI spec Vol 2, 13.4.8 WhoAmI, callable
// from APs), the index of g_cpus. False when the firmware names no CPU this loader recorded.
bool this_ap_index(unsigned* index) {
  UINTN n = 0;
  if (EFI_ERROR(g_mp->who_am_i(g_mp, &n)) || n >= g_count || n == g_bsp_index) return false;
  *index = static_cast<unsigned>(n);
  return true;
}

// Runs `procedure` on every enabled AP at once (StartupAllAPs, SingleThread=FALSE: the
// firmware wakes them together and the BSP waits for the last one, so the wait is one AP's
// work however many there are). Every AP that did not run it is reported by name, as the
// StartupThisAP loop did; returns how many did.
unsigned run_on_all_aps(efi::ApProcedure procedure, AllApsCall* call) {
  unsigned enabled = 0;
  for (unsigned i = 0; i < g_count; ++i) {
    g_ran[i] = false;
    if (i == g_bsp_index) continue;
    if (g_cpus[i].enabled) ++enabled;  // the disabled ones: said once by the loader (efi_main.cpp)
  }
  if (!g_mp || enabled == 0) return 0;  // StartupAllAPs would answer EFI_NOT_STARTED
  __atomic_thread_fence(__ATOMIC_SEQ_CST);  // the cleared slots before any AP can run
  const EFI_STATUS s = g_mp->startup_all_aps(g_mp, procedure, FALSE, nullptr, kApTimeoutUs, call, nullptr);
  unsigned done = 0;
  for (unsigned i = 0; i < g_count; ++i) {
    if (i == g_bsp_index || !g_cpus[i].enabled) continue;
    if (ran(i)) {
      ++done;
      continue;
    }
    APEX_LOG(error, "cpu%u (APIC id %u): did not run on it: StartupAllAPs: %s", i, g_cpus[i].apic_id,
             EFI_ERROR(s) ? efi::status_name(s) : "the AP could not name itself (WhoAmI)");
  }
  if (EFI_ERROR(s) && done == enabled)
    APEX_LOG(warn, "StartupAllAPs: %s, yet every AP ran", efi::status_name(s));
  return done;
}

}  // namespace
}  // namespace boot

// The AP side of probe_and_launch_aps, called by apex_ap_call_capturing (MS ABI shim) with the
// continuation back into MP services: each AP captures its own (its own stack, in the
// firmware's AP loop), so each AP's guest resumes there and reports "finished" to the BSP.
// Probe, answer, agree on the decision with the other APs, then launch or return.
extern "C" uint64_t apex_ap_procedure(void* p, const vmm::GuestContinuation* resume) {
  auto* call = static_cast<boot::AllApsCall*>(p);
  unsigned index = 0;
  if (!boot::this_ap_index(&index)) return 0;
  {
    boot::ApRound* r = call->round;
    if (!call->probe(index, call->probe_arg)) boot::settle(r, boot::kRoundCancel);
    __atomic_add_fetch(&r->answered, 1, __ATOMIC_ACQ_REL);  // after the probe's results and any cancel
    const uint64_t start = __builtin_ia32_rdtsc();
    uint32_t decision;
    while ((decision = __atomic_load_n(&r->decision, __ATOMIC_ACQUIRE)) == boot::kRoundPending) {
      if (__atomic_load_n(&r->answered, __ATOMIC_ACQUIRE) == r->expected)
        boot::settle(r, r->launch_allowed ? boot::kRoundLaunch : boot::kRoundCancel);
      else if (__builtin_ia32_rdtsc() - start > boot::kRoundPatienceTicks)
        boot::settle(r, boot::kRoundCancel);
      __builtin_ia32_pause();
    }
    if (decision != boot::kRoundLaunch) {
      boot::mark_ran(index);
      return 0;
    }
  }
  // Before fn: a launch that succeeds does not come back here. fn records its result in its
  // own slot before it launches (boot/virtualize.cpp launch_one).
  boot::mark_ran(index);
  call->launch(index, call->launch_arg, *resume);
  return 0;
}

namespace boot {

bool probe_and_launch_aps(ProbeFn probe, void* probe_arg, LaunchFn launch, void* launch_arg, bool launch_allowed) {
  unsigned enabled = 0;
  for (unsigned i = 0; i < g_count; ++i)
    if (i != g_bsp_index && g_cpus[i].enabled) ++enabled;
  if (!g_mp || enabled == 0) return launch_allowed;
  g_round = {kRoundPending, 0, enabled, launch_allowed};
  g_round_call = {&g_round, probe, probe_arg, launch, launch_arg};
  (void)run_on_all_aps(apex_ap_call_capturing, &g_round_call);
  // Settled by the APs; pending only when none ran the procedure (then none launched).
  uint32_t pending = kRoundPending;
  __atomic_compare_exchange_n(&g_round.decision, &pending, kRoundCancel, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  return __atomic_load_n(&g_round.decision, __ATOMIC_ACQUIRE) == kRoundLaunch;
}

}  // namespace boot
