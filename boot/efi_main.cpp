// apexvisor.efi entry point: configuration, platform inventory, VMX on every CPU, then the
// next boot stage (design.md "The path of one boot"). Whatever fails, the machine still
// boots the next stage.
#include "arch/cpu.hpp"
#include "boot/chainload.hpp"
#include "decode/decode.hpp"
#include "decode/format.hpp"
#include "boot/config.hpp"
#include "boot/console.hpp"
#include "boot/cpu_limit_check.hpp"
#include "boot/cpu_set_text.hpp"
#include "boot/efi/efi.hpp"
#include "boot/esp_files.hpp"
#include "boot/firmware.hpp"
#include "boot/inventory.hpp"
#include "boot/loader_handoff.hpp"
#include "boot/mp.hpp"
#include "boot/runtime_copy.hpp"
#include "boot/virtualize.hpp"
#include "boot/vmx_readiness.hpp"
#include "vmm/log/format.hpp"
#include "vmm/log/log.hpp"

namespace boot {
namespace {

constexpr const char16_t* kConfigPath = u"\\EFI\\apexvisor\\apexvisor.cfg";

void report_config_problem(void*, unsigned line, const char* message) {
  APEX_LOG(warn, "config \\EFI\\apexvisor\\apexvisor.cfg line %u: %s", line, message);
}

Config load_config() {
  Config cfg;
  char* text = nullptr;
  size_t size = 0;
  EFI_STATUS status = EFI_SUCCESS;
  switch (read_esp_file(kConfigPath, &text, &size, &status)) {
    case FileResult::not_found:
      APEX_LOG(info, "no \\EFI\\apexvisor\\apexvisor.cfg: using the defaults");
      return cfg;
    case FileResult::error:
      APEX_LOG(warn, "\\EFI\\apexvisor\\apexvisor.cfg is unreadable (%s): using the defaults", efi::status_name(status));
      return cfg;
    case FileResult::ok:
      break;
  }
  unsigned problems = parse_config(text, size, &cfg, report_config_problem, nullptr);
  free_pool(text);
  // At info what differs from the defaults (describe_config_changes); everything at debug.
  static char changes[Config::kPathMax + 192];
  describe_config_changes(cfg, console_serial_shared(cfg.serial_port), changes, sizeof changes);
  APEX_LOG(info, "config: %s (%u problem%s)", changes[0] ? changes : "defaults", problems, problems == 1 ? "" : "s");
  APEX_LOG(debug, "config: log=%s serial=0x%x%s chainload=%s apx=%s dt_guard=%s init_sipi=%s apic_virt=%s",
           vmm::log_level_name(cfg.log_level), cfg.serial_port,
           console_serial_shared(cfg.serial_port) ? " (shared with ConOut)" : "",
           cfg.chainload[0] ? cfg.chainload : "(next boot entry)",
           apx_mode_name(cfg.apx), cfg.dt_guard ? "on" : "off", init_sipi_mode_name(cfg.init_sipi),
           apic_virt_mode_name(cfg.apic_virt));
  return cfg;
}

// The decoder (REX2 front-end + Zydis) checked inside the image at every boot: one legacy
// and one REX2 instruction must decode to the expected text, or the log says it does not.
void log_decoder_check() {
  struct Probe {
    uint8_t bytes[8];
    uint8_t length;
    const char* text;
  } const probes[] = {
      {{0x48, 0x89, 0x47, 0x08}, 4, "mov qword ptr [rdi + 8], rax"},
      {{0xd5, 0x48, 0x89, 0x47, 0x08}, 5, "mov qword ptr [rdi + 8], r16"},
  };
  unsigned ok = 0;
  for (const Probe& p : probes) {
    decode::Instruction insn = decode::decode(p.bytes, p.length, decode::CpuMode::bits64, true);
    char text[96];
    decode::format_intel(insn, text, sizeof text);
    bool same = insn.ok() && insn.length == p.length;
    for (size_t i = 0; same && (text[i] || p.text[i]); ++i) same = text[i] == p.text[i];
    if (same) {
      ++ok;
      APEX_LOG(debug, "decoder check: %s (%u bytes) ok", text, static_cast<unsigned>(insn.length));
    } else {
      APEX_LOG(error, "decoder check FAILED: expected '%s', decoded '%s'", p.text, text);
    }
  }
  // One line when all is well, at debug (a failure is an error line): every byte on a polled UART costs boot time (bench/results.md).
  if (ok == sizeof probes / sizeof probes[0]) APEX_LOG(debug, "decoder check: legacy and REX2 probes ok");
}

// One entry per CPU present, in boot-services pool memory: only the loader reads them, and
// only before the launch. The APs probe all at once (boot/mp.hpp): each writes only its own
// entries (results[i], vmxon_pages[i]'s page, probed[i]) and logs nothing; the BSP reports for
// all of them once they are done.
struct VmxProbeRun {
  VmxReadiness* results;
  void** vmxon_pages;
  bool* probed;
};

// Scratch of the grouped reports (BSP only, after the APs are done): off the firmware's small
// stack.
bool g_group_member[kMaxCpus], g_group_taken[kMaxCpus], g_group_include[kMaxCpus];

// Whether a report line says the same of CPUs a and b.
bool same_text(const char* a, const char* b) {
  if (a == b) return true;
  if (!a || !b) return false;
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

// What the probe found, one line per group of CPUs it found the same on (issue P12: nothing per
// CPU at the default level unless the CPUs differ; hybrid parts differ per core type and then
// get a line per kind of core).
void log_readiness(unsigned cpus, const VmxProbeRun& run) {
  const VmxReadiness* r = run.results;
  char set[96];
  auto text = [&](const bool* member) { return format_cpu_set(member, cpus, 0, "cpu", set, sizeof set), set; };

  // Where VMX is ready the VMX line below says it too (one line, not two).
  for (unsigned i = 0; i < cpus; ++i)
    g_group_include[i] = run.probed[i] && r[i].feature_control_set_by_us && !(r[i].cpuid_vmx && r[i].vmxon_ok);
  for_each_cpu_group(
      cpus, g_group_include, g_group_member, g_group_taken,
      [&](unsigned a, unsigned b) { return r[a].feature_control_before == r[b].feature_control_before; },
      [&](unsigned leader, const bool* member) {
        APEX_LOG(info, "%s: IA32_FEATURE_CONTROL 0x%llx unlocked: locked, VMXON outside SMX", text(member),
                 static_cast<unsigned long long>(r[leader].feature_control_before));
      });

  for (unsigned i = 0; i < cpus; ++i) g_group_include[i] = run.probed[i] && !(r[i].cpuid_vmx && r[i].vmxon_ok);
  for_each_cpu_group(
      cpus, g_group_include, g_group_member, g_group_taken,
      [&](unsigned a, unsigned b) { return same_text(r[a].reason, r[b].reason); },
      [&](unsigned leader, const bool* member) {
        APEX_LOG(warn, "%s: VMX unavailable: %s", text(member), r[leader].reason ? r[leader].reason : "unknown reason");
      });

  for (unsigned i = 0; i < cpus; ++i) g_group_include[i] = run.probed[i] && r[i].cpuid_vmx && r[i].vmxon_ok;
  for_each_cpu_group(
      cpus, g_group_include, g_group_member, g_group_taken,
      [&](unsigned a, unsigned b) {
        return r[a].has_ept() == r[b].has_ept() && r[a].has_vpid() == r[b].has_vpid() &&
               r[a].has_unrestricted_guest() == r[b].has_unrestricted_guest() &&
               r[a].has_wait_for_sipi() == r[b].has_wait_for_sipi() &&
               r[a].feature_control_set_by_us == r[b].feature_control_set_by_us &&
               (!r[a].feature_control_set_by_us || r[a].feature_control_before == r[b].feature_control_before);
      },
      [&](unsigned leader, const bool* member) {
        const VmxReadiness& c = r[leader];
        char locked[64] = "";
        if (c.feature_control_set_by_us)
          vmm::format(locked, sizeof locked, "; locked IA32_FEATURE_CONTROL (was 0x%llx)",
                      static_cast<unsigned long long>(c.feature_control_before));
        APEX_LOG(info, "%s: VMX ok: %sEPT, %sVPID, %sunrestricted guest, %swait-for-SIPI%s", text(member),
                 c.has_ept() ? "" : "no ", c.has_vpid() ? "" : "no ", c.has_unrestricted_guest() ? "" : "no ",
                 c.has_wait_for_sipi() ? "" : "no ", locked);
      });

  // The capability words in full, per CPU, at debug level only (`log=debug`).
  if (vmm::global_log().level() < vmm::LogLevel::debug) return;
  for (unsigned i = 0; i < cpus; ++i) {
    if (!run.probed[i] || !r[i].cpuid_vmx || !r[i].vmxon_ok) continue;
    const CpuInfo& c = cpu_info(i);
    APEX_LOG(debug, "cpu%u apic=%u: VMX_BASIC=0x%llx revision=0x%x true-controls=%s", i, c.apic_id,
             static_cast<unsigned long long>(r[i].basic), static_cast<unsigned>(r[i].basic & 0x7fffffff),
             r[i].true_controls ? "yes" : "no");
    APEX_LOG(debug, "cpu%u apic=%u: pin=0x%llx proc=0x%llx proc2=0x%llx exit=0x%llx entry=0x%llx misc=0x%llx ept_vpid=0x%llx",
             i, c.apic_id, static_cast<unsigned long long>(r[i].pinbased),
             static_cast<unsigned long long>(r[i].procbased), static_cast<unsigned long long>(r[i].procbased2),
             static_cast<unsigned long long>(r[i].exit), static_cast<unsigned long long>(r[i].entry),
             static_cast<unsigned long long>(r[i].misc), static_cast<unsigned long long>(r[i].ept_vpid));
  }
}

// Runs on every CPU, the APs concurrently: writes only this CPU's entries (VmxProbeRun).
void probe_one_cpu(unsigned index, void* arg) {
  auto* run = static_cast<VmxProbeRun*>(arg);
  probe_vmx_on_this_cpu(&run->results[index], run->vmxon_pages[index]);
  __atomic_store_n(&run->probed[index], true, __ATOMIC_RELEASE);  // after its results
}

// This CPU's probe finished (an AP that timed out may still be writing: not ready).
bool probed_ready(const VmxProbeRun& run, unsigned i) {
  return __atomic_load_n(&run.probed[i], __ATOMIC_ACQUIRE) && run.results[i].vmxon_ok;
}

// An AP's probe in the one round (boot/mp.hpp): its answer is whether VMX is ready there.
bool probe_ap(unsigned index, void* arg) {
  probe_one_cpu(index, arg);
  return probed_ready(*static_cast<VmxProbeRun*>(arg), index);
}

struct OneRound {
  VmxProbeRun* run;
  LoaderHandoff* handoff;
  unsigned cpus;
  unsigned bsp;
  bool aps_probed;
};

// Once every CPU has probed: what the probe found, and the machine-wide rule. Returns whether
// every CPU is ready.
bool report_probe(OneRound& r) {
  r.aps_probed = true;
  log_readiness(r.cpus, *r.run);
  unsigned vmx_ok = 0;
  for (unsigned i = 0; i < r.cpus; ++i) vmx_ok += probed_ready(*r.run, i) ? 1 : 0;
  r.handoff->vmx_ok = vmx_ok;
  // All or nothing: a CPU left outside would run the OS with no EPT, able to reach
  // hypervisor memory (as for too many CPUs, boot/cpu_limit_check.hpp). The APs decided the
  // same among themselves in the round (boot/mp.hpp), so none of them was launched either.
  if (vmx_ok && vmx_ok < r.cpus)
    APEX_LOG(error, "VMX ready on %u of %u processors: not virtualizing any (a processor left outside would run the "
             "OS with no EPT, able to reach hypervisor memory); the OS boots without the hypervisor", vmx_ok, r.cpus);
  return vmx_ok == r.cpus;
}

// virtualize_all_cpus' LaunchAllFn: the APs probe and launch in one round, then the BSP.
void launch_in_one_round(LaunchFn launch, void* launch_arg, const vmm::GuestContinuation& bsp_resume, void* ctx) {
  auto& r = *static_cast<OneRound*>(ctx);
  const bool aps_launched = probe_and_launch_aps(probe_ap, r.run, launch, launch_arg, true);
  if (!report_probe(r)) return;
  if (!aps_launched) {
    // Every CPU probed ready, yet the APs settled on cancel: one answered too late (the round's
    // bound, boot/mp.cpp), so none was launched and the BSP is not either (all or nothing).
    APEX_LOG(error, "the APs did not all answer within the round's bound: not virtualizing any");
    return;
  }
  launch(r.bsp, launch_arg, bsp_resume);
}

}  // namespace
}  // namespace boot

namespace boot {
namespace {

struct HypervisorEntry {
  EFI_HANDLE image;
  EFI_SYSTEM_TABLE* st;
  LoaderHandoff* handoff;
};
uint64_t hypervisor_main(void* arg, const vmm::GuestContinuation* bsp_resume);
EFI_STATUS finish_as_guest(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, LoaderHandoff& handoff, bool launched);

}  // namespace
}  // namespace boot

// TSC when the firmware started apexvisor; the `timing:` line after the summary reports it
// (tools/bench: boot cost).
static uint64_t g_tsc_at_entry = 0;

// Runs in the firmware's image (boot/loader_handoff.hpp): the hypervisor image does the work
// up to the launch of every CPU; the bootstrap processor comes back here as the guest (or
// without a hypervisor) and boots the next stage.
extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  g_tsc_at_entry = arch::rdtsc();
  boot::LoaderHandoff handoff;
  boot::HypervisorEntry entry{image, st, &handoff};
  const bool launched = boot::run_in_hypervisor_image(image, st, boot::hypervisor_main, &entry) == vmm::kLaunchedAsGuest;
  return boot::finish_as_guest(image, st, handoff, launched);
}

namespace boot {
namespace {

void init_firmware(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  Firmware& fw = firmware();
  fw.image = image;
  fw.st = st;
  fw.bs = st->BootServices;
  fw.rt = st->RuntimeServices;
}

// Runs in the hypervisor image (the runtime copy), as the firmware's code until each CPU is
// launched. Everything the guest side needs afterwards goes into the handoff first. Returns
// only when the bootstrap processor was not launched.
uint64_t hypervisor_main(void* arg, const vmm::GuestContinuation* bsp_resume) {
  auto* entry = static_cast<HypervisorEntry*>(arg);
  LoaderHandoff& handoff = *entry->handoff;
  init_firmware(entry->image, entry->st);

  console_init(0x3f8);
  APEX_LOG(info, "apexvisor %s: VMX micro-hypervisor", APEXVISOR_VERSION);
  const char* no_copy = runtime_copy_failure();
  if (no_copy) {
    APEX_LOG(warn, "no runtime copy of the image (%s): the hypervisor would share its memory with the guest; "
             "not virtualizing", no_copy);
  } else {
    // The copy is hypervisor memory: hidden from the guest with the rest (virtualize.cpp).
    record_hypervisor_memory(image_base(), (image_size() + 4095) & ~uint64_t{4095});
    // No address: the log ring is readable by hypercall, and addresses help an attacker.
    // At debug: the `memory:` line says the size once virtualized (every byte on a polled UART
    // costs boot time, bench/results.md).
    APEX_LOG(debug, "running from runtime memory (%llu KiB), hidden from the guest once launched",
             static_cast<unsigned long long>(image_size() / 1024));
  }
  Config cfg = load_config();
  handoff.cfg = cfg;
  vmm::global_log().set_level(cfg.log_level);
  if (cfg.serial_port != 0x3f8) console_init(cfg.serial_port);

  log_cpu_identity();
  log_decoder_check();
  unsigned cpus = mp_init();
  // At debug: the summary line says it (cpus=N), and mp_init warns when MP services are absent.
  APEX_LOG(debug, "processors: %u (MP services %s)", cpus, mp_available() ? "present" : "absent");
  // Per CPU only at debug, or where a CPU differs (disabled by the firmware).
  for (unsigned i = 0; i < cpus; ++i) {
    if (!cpu_info(i).enabled)
      APEX_LOG(warn, "cpu%u (APIC id %u) is disabled by the firmware: not virtualized", i, cpu_info(i).apic_id);
    else
      APEX_LOG(debug, "cpu%u: APIC id %u%s", i, cpu_info(i).apic_id, cpu_info(i).bsp ? " (BSP)" : "");
  }

  handoff.cpus = cpus;
  handoff.hypervisor_image = no_copy == nullptr;
  if (!cpu_count_supported(cpus_reported_by_firmware())) {
    APEX_LOG(error, "processors: %llu reported, %s", static_cast<unsigned long long>(cpus_reported_by_firmware()),
             kTooManyCpusReason);
    return 0;
  }

  // Every runtime page the loader takes, in one AllocatePages call (boot/firmware.hpp): what
  // it used under Bochs (256 MiB, `memory:` at log=debug) was 76 pages + 22 per CPU; the rest
  // is room for more RAM's EPT tables. Were it short, the pages come in chunks as before. A
  // machine that will not be virtualized gives it back below.
  reserve_runtime_pages(96 + 24 * static_cast<size_t>(cpus));
  VmxProbeRun run{static_cast<VmxReadiness*>(alloc_pool(cpus * sizeof(VmxReadiness))),
                  static_cast<void**>(alloc_pool(cpus * sizeof(void*))), static_cast<bool*>(alloc_pool(cpus * sizeof(bool)))};
  auto* attempt = static_cast<bool*>(alloc_pool(cpus * sizeof(bool)));
  bool memory_ok = run.results && run.vmxon_pages && run.probed && attempt;
  for (unsigned i = 0; memory_ok && i < cpus; ++i) {
    run.results[i] = {};
    run.probed[i] = false;
    attempt[i] = false;
    run.vmxon_pages[i] = alloc_runtime_pages(1);
    if (!run.vmxon_pages[i]) memory_ok = false;
  }
  // What the firmware image reports of the launch (guest memory: not hidden).
  handoff.outcome = static_cast<uint8_t*>(alloc_pool(cpus));
  for (unsigned i = 0; handoff.outcome && i < cpus; ++i) handoff.outcome[i] = kNotLaunched;
  if (!memory_ok) {
    APEX_LOG(error, "out of memory for VMXON regions: VMX not attempted");
    return 0;
  }
  // The BSP probes first, on its own; where it is ready (and every CPU is enabled), the
  // machine-wide structures are built for every CPU before the APs are woken, so that they
  // probe and launch in one MP services round (boot/mp.hpp probe_and_launch_aps), the BSP
  // last. Otherwise, or when building fails, the APs are only probed, for the report.
  unsigned bsp = 0;
  bool all_enabled = true;
  for (unsigned i = 0; i < cpus; ++i) {
    if (cpu_info(i).bsp) bsp = i;
    all_enabled = all_enabled && cpu_info(i).enabled;
  }
  probe_one_cpu(bsp, &run);
  OneRound round{&run, &handoff, cpus, bsp, false};
  if (probed_ready(run, bsp) && handoff.hypervisor_image && all_enabled) {
    for (unsigned i = 0; i < cpus; ++i) attempt[i] = true;
    (void)virtualize_all_cpus(cfg, attempt, *bsp_resume, &handoff, launch_in_one_round, &round);
  }
  if (!round.aps_probed) {
    // Nothing will be virtualized (no CPU was launched: the BSP launches last, after the
    // round): the reservation goes back to the firmware (the OS would lose it for good), and
    // the APs probe, for the report, with VMXON pages of their own.
    if (release_runtime_reservation()) {
      APEX_LOG(debug, "nothing to virtualize: the runtime-page reservation went back to the firmware");
      for (unsigned i = 0; i < cpus; ++i) {
        run.vmxon_pages[i] = i == bsp ? nullptr : alloc_runtime_pages(1);
        if (i != bsp && !run.vmxon_pages[i]) {
          APEX_LOG(error, "out of memory for VMXON regions: the APs are not probed");
          return 0;
        }
      }
    }
    (void)probe_and_launch_aps(probe_ap, &run, nullptr, nullptr, false);
    report_probe(round);
  }
  return 0;
}

// Which CPUs run as guests, in one line (issue P12: nothing per CPU at the default level; a
// CPU whose launch failed has its own error line), and how many. Firmware image, BSP, once
// every AP is done.
bool g_launched_set[kMaxCpus];
unsigned report_launched(const LoaderHandoff& handoff) {
  if (!handoff.outcome) return 0;
  unsigned n = 0;
  for (unsigned i = 0; i < handoff.cpus; ++i)
    n += (g_launched_set[i] = __atomic_load_n(&handoff.outcome[i], __ATOMIC_ACQUIRE) == kLaunching) ? 1 : 0;
  if (n == 0) return 0;
  char set[96], vpids[96];
  format_cpu_set(g_launched_set, handoff.cpus, 0, "cpu", set, sizeof set);
  format_cpu_set(g_launched_set, handoff.cpus, 1, n == 1 ? "VPID " : "VPIDs ", vpids, sizeof vpids);  // 0 is the host's
  APEX_LOG(info, "%s: virtualized (%s)", set, handoff.vpid ? vpids : "no VPID");
  return n;
}

// Runs in the firmware's image, on the bootstrap processor, as the guest when it was
// `launched`: its own globals, nothing of the hypervisor's; its lines reach the UART through
// the hypervisor then.
EFI_STATUS finish_as_guest(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, LoaderHandoff& handoff, bool launched) {
  init_firmware(image, st);
  console_init(handoff.cfg.serial_port, !launched);
  if (launched) console_route_through_hypervisor();
  vmm::global_log().set_level(handoff.cfg.log_level);
  handoff.virtualized = report_launched(handoff);
  APEX_LOG(info, "summary cpus=%u vmx_ok=%u virtualized=%u", handoff.cpus, handoff.vmx_ok, handoff.virtualized);
  APEX_LOG(info, "timing: tsc_entry=%llu tsc_summary=%llu", static_cast<unsigned long long>(g_tsc_at_entry),
           static_cast<unsigned long long>(arch::rdtsc()));
  if (handoff.virtualized < handoff.cpus)
    APEX_LOG(warn, "%u of %u CPUs run without the hypervisor; booting the next stage regardless",
             handoff.cpus - handoff.virtualized, handoff.cpus);

  // An error return makes the firmware's boot manager go on to its next boot option.
  return start_next_stage(handoff.cfg) ? EFI_SUCCESS : EFI_NOT_FOUND;
}

}  // namespace
}  // namespace boot
