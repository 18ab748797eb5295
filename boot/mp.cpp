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

struct ApCall {
  PerCpuFn fn;
  void* arg;
  unsigned index;
};

void EFIAPI ap_trampoline(void* p) {
  auto* call = static_cast<ApCall*>(p);
  call->fn(call->index, call->arg);
}

struct ApLaunchCall {
  LaunchFn fn;
  void* arg;
  unsigned index;
};

// Generous: under Bochs an AP's work can take seconds of emulated time.
constexpr UINTN kApTimeoutUs = 60ull * 1000 * 1000;

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

// StartupThisAP with `procedure`; false (logged) when the AP could not run it.
bool run_on_ap(unsigned i, efi::ApProcedure procedure, void* arg) {
  if (!g_cpus[i].enabled) {
    APEX_LOG(warn, "cpu%u (APIC id %u) is disabled by the firmware; skipped", i, g_cpus[i].apic_id);
    return false;
  }
  EFI_STATUS s = g_mp->startup_this_ap(g_mp, procedure, i, nullptr, kApTimeoutUs, arg, nullptr);
  if (EFI_ERROR(s)) {
    APEX_LOG(error, "cpu%u (APIC id %u): StartupThisAP failed: %s", i, g_cpus[i].apic_id, efi::status_name(s));
    return false;
  }
  return true;
}

}  // namespace
}  // namespace boot

// The AP side of launch_on_each_cpu, called by apex_ap_call_capturing (MS ABI shim) with the
// continuation back into MP services.
extern "C" uint64_t apex_ap_procedure(void* p, const vmm::GuestContinuation* resume) {
  auto* call = static_cast<boot::ApLaunchCall*>(p);
  call->fn(call->index, call->arg, *resume);
  return 0;
}

namespace boot {

void launch_on_each_cpu(LaunchFn fn, void* arg, const vmm::GuestContinuation& bsp_resume) {
  for (unsigned i = 0; g_mp && i < g_count; ++i) {
    if (i == g_bsp_index) continue;
    ApLaunchCall call{fn, arg, i};
    (void)run_on_ap(i, apex_ap_call_capturing, &call);
  }
  fn(g_bsp_index, arg, bsp_resume);
}

unsigned run_on_each_cpu(PerCpuFn fn, void* arg) {
  unsigned done = 0;
  fn(g_bsp_index, arg);
  ++done;
  if (!g_mp) return done;
  for (unsigned i = 0; i < g_count; ++i) {
    if (i == g_bsp_index) continue;
    ApCall call{fn, arg, i};
    if (run_on_ap(i, ap_trampoline, &call)) ++done;
  }
  return done;
}

}  // namespace boot
