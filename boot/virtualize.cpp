#include "boot/virtualize.hpp"
#include "boot/vmx_readiness.hpp"

#include "apexvisor_mutation.h"  // tests/mutation/run only

#include "arch/cpu.hpp"
#include "boot/cpu_set_text.hpp"
#include "boot/firmware.hpp"
#include "boot/runtime_copy.hpp"
#include "boot/mp.hpp"
#include "vmm/apic/ap_start_mode.hpp"
#include "vmm/apic/apic_base_write.hpp"
#include "vmm/apic/apic_page_intercept.hpp"
#include "vmm/apic/apic_virtualization.hpp"
#include "vmm/apic/mmio_xapic.hpp"
#include "vmm/apic/registry_targets.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/ept/pool_shares.hpp"
#include "vmm/ept/mtrr_resync.hpp"
#include "vmm/apic/x2apic_icr.hpp"
#include "vmm/code_checksum.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/ept_extent.hpp"
#include "vmm/ept/virtual_mtrrs.hpp"
#include "vmm/ept_write_intercept.hpp"
#include "vmm/guest_memory/host_phys_memory.hpp"
#include "vmm/hypercall.hpp"
#include "vmm/launch/launch.hpp"
#include "vmm/log/log.hpp"
#include "vmm/monitor/ept_platform.hpp"
#include "vmm/msr_policy.hpp"
#include "vmm/vcpu_registry.hpp"
#include "vmm/policy/apx_policy.hpp"
#include "vmm/policy/cpuid_bits.hpp"
#include "vmx/exit_info_form.hpp"

// gnu-efi's linker script marks the image's .text (elf_x86_64_efi.lds).
extern "C" uint8_t _text[], _etext[];

namespace boot {
namespace {

uint64_t hw_rdmsr(void*, uint32_t msr) { return arch::rdmsr(msr); }

// EPT and host page tables: runtime pages, identity-mapped (physical = virtual under UEFI).
class RuntimePageAllocator final : public vmm::ept::PageAllocator {
 public:
  // Once the map is hidden and live, splits (EPT write monitor, MTRR re-typing) take pages
  // from a pool reserved before hiding, never from boot services (not callable from VMX root).
  void* alloc_zeroed_page() override {
    if (!live_) return alloc_runtime_pages(1);
    return pool_left_ ? pool_ + 4096 * --pool_left_ : nullptr;  // zeroed when allocated
  }
  void go_live(uint8_t* pool, size_t count) { live_ = true, pool_ = pool, pool_left_ = pool ? count : 0; }
  uint64_t phys_of(void* page) override { return reinterpret_cast<uint64_t>(page); }
  void* virt_of(uint64_t phys) override { return reinterpret_cast<void*>(phys); }

 private:
  bool live_ = false;
  uint8_t* pool_ = nullptr;
  size_t pool_left_ = 0;
};

void* alloc_page_for_host(void*) { return alloc_runtime_pages(1); }

// One entry per CPU present, in runtime pages (hypervisor memory: hidden from the guest
// once launched), allocated when the count is known: the tables grow with the machine, not
// with kMaxCpus.
struct LaunchRun {
  vmm::CpuVm* cpus;
  vmm::LaunchResult* results;
  bool* attempted;
  uint8_t* outcome;  // LoaderHandoff::outcome: what the firmware image reports (may be nullptr)
};

bool allocate_launch_run(LaunchRun& run, unsigned cpus) {
  const size_t bytes = cpus * (sizeof(vmm::CpuVm) + sizeof(vmm::LaunchResult) + sizeof(bool));
  auto* p = static_cast<uint8_t*>(alloc_runtime_pages((bytes + 4095) / 4096));  // zeroed
  if (!p) return false;
  run.cpus = reinterpret_cast<vmm::CpuVm*>(p);
  run.results = reinterpret_cast<vmm::LaunchResult*>(p + cpus * sizeof(vmm::CpuVm));
  run.attempted = reinterpret_cast<bool*>(p + cpus * (sizeof(vmm::CpuVm) + sizeof(vmm::LaunchResult)));
  return true;
}

unsigned launched(const LaunchRun& run) {
  unsigned n = 0;
  for (unsigned i = 0; i < cpu_count(); ++i) n += run.results[i].ok ? 1 : 0;
  return n;
}

// Runs on each CPU, the APs all at once and the BSP beside them (boot/mp.hpp): read this
// CPU's own capabilities (hybrid parts differ per core type), refuse with the missing
// control's name, else launch. What it writes that other CPUs see: its own slots of
// run->results and run->outcome, and the log (safe from several CPUs); launch_this_cpu writes
// this CPU's HostCpu, Vcpu, VMXON region and VMCS, and only reads the machine-wide MachineVm.
// A launch that succeeds does not come back (the guest continues at `resume`, outside this
// image), so the CPU's result is written first, and undone if the launch fails. Which CPUs
// run as guests is said once, by the firmware image, when every AP is done (finish_as_guest).
void launch_one(unsigned index, void* arg, const vmm::GuestContinuation& resume) {
  auto* run = static_cast<LaunchRun*>(arg);
  if (!run->attempted[index]) return;
  vmx::VmxCapabilities caps = vmx::load_capabilities(hw_rdmsr, nullptr, host_enumerates_apx());
  vmx::CheckResult check = vmx::check_required(caps);
  if (!check.ok) {
    run->results[index] = {false, check.reason, 0};
    if (run->outcome) __atomic_store_n(&run->outcome[index], kLaunchFailed, __ATOMIC_RELEASE);
  } else {
    run->results[index] = {true, nullptr, 0};
    if (run->outcome) __atomic_store_n(&run->outcome[index], kLaunching, __ATOMIC_RELEASE);
    run->results[index] = vmm::launch_this_cpu(caps, run->cpus[index], resume);
    if (run->outcome) __atomic_store_n(&run->outcome[index], kLaunchFailed, __ATOMIC_RELEASE);
  }
  const vmm::LaunchResult& r = run->results[index];
  if (!r.ok)
    APEX_LOG(error, "cpu%u: not virtualized: %s (VM-instruction error %u)", index, r.reason, r.vm_instruction_error);
}

vmm::policy::HostCpuInfo host_cpu_info() {
  vmm::policy::HostCpuInfo info{};
  uint32_t max_leaf = arch::cpuid(0).eax;
  if (max_leaf >= 7 && arch::cpuid(7, 0).eax >= 1) info.leaf7_sub1_edx = arch::cpuid(7, 1).edx;
  if (max_leaf >= 0xd) {
    auto d = arch::cpuid(0xd, 0);
    info.xcr0_supported = (static_cast<uint64_t>(d.edx) << 32) | d.eax;
    for (unsigned n = 2; n < 64; ++n) {
      if (!(info.xcr0_supported & (1ull << n))) continue;
      auto c = arch::cpuid(0xd, n);
      info.xsave.size[n] = c.eax;
      info.xsave.offset[n] = c.ebx;
    }
  }
  return info;
}

// init_sipi=auto (README "Configuration"): intercept where native INIT/SIPI handling is
// known not to work, native otherwise. Bochs does not name itself in CPUID; it reports
// microcode revision 0 (IA32_BIOS_SIGN_ID), which no real Intel part does.
vmm::apic::ApStartMode choose_ap_start_mode(const Config& cfg, const vmx::VmxCapabilities& caps, const char** why) {
  using vmm::apic::ApStartMode;
  if (cfg.init_sipi == InitSipiMode::native) return *why = "configured", ApStartMode::native;
  if (cfg.init_sipi == InitSipiMode::intercept) return *why = "configured", ApStartMode::intercept;
  if (!caps.wait_for_sipi()) return *why = "IA32_VMX_MISC lacks wait-for-SIPI", ApStartMode::intercept;
  if (arch::cpuid(1).ecx & (1u << 31))
    return *why = "running nested: a SIPI right after INIT de-assert can be lost", ApStartMode::intercept;
  arch::wrmsr(0x8b, 0);  // IA32_BIOS_SIGN_ID: write 0, CPUID(1), read the revision back (SDM Vol 3A 10.11.7.1)
  (void)arch::cpuid(1);
  if ((arch::rdmsr(0x8b) >> 32) == 0)
    return *why = "microcode revision 0: an emulator", ApStartMode::intercept;  // Bochs 2.7 keeps INIT pending after an INIT exit
  return *why = "real hardware with wait-for-SIPI", ApStartMode::native;
}

vmm::apic::ApicTopology g_topology;
vmm::apic::ApicPageIntercept g_apic_intercept;
vmm::apic::VirtualApic g_virtual_apic;
vmm::ept::EptIdentityMap* g_ept = nullptr;

// The one answer to "is this hypervisor memory" (GuestPolicy::hypervisor_memory): what the
// EPT hides.
bool hypervisor_memory(uint64_t gpa) { return g_ept->translate(gpa).hidden; }

// The host's page tables map [0, g_host_top): RAM and the MMIO below 4 GiB.
uint64_t g_host_top = 0;

// Guest RAM the emulator may touch: mapped by the EPT, not hypervisor memory, and within
// the host's own identity map (the EPT reaches further: MMIO above RAM, which the emulator
// answers as not RAM, bad_gpa, rather than fault on in VMX root).
bool gpa_visible(uint64_t gpa) {
  if (gpa >= g_host_top) return false;
  vmm::ept::EptTranslation t = g_ept->translate(gpa);
  return t.mapped && t.present && !t.hidden;
}

vmm::ept::VirtualMtrrs* g_virtual_mtrrs = nullptr;

// GuestPolicy::ept_on_demand: an EPT violation above the part mapped at boot.
vmm::OnDemandMap ept_on_demand(uint64_t gpa) {
  if (gpa < g_ept->mapped_end() || gpa >= g_ept->reach()) return vmm::OnDemandMap::not_here;
  uint64_t added = 0;
  const vmm::ept::EptStatus s = vmm::ept::map_on_demand_from_virtual(*g_ept, *g_virtual_mtrrs, gpa, &added);
  if (s == vmm::ept::EptStatus::out_of_memory) return vmm::OnDemandMap::exhausted;
  if (s != vmm::ept::EptStatus::ok) return vmm::OnDemandMap::not_here;
  if (added)
    APEX_LOG_GUEST(info, "EPT: mapped the 1 GiB block at 0x%llx above RAM on its first access",
                   static_cast<unsigned long long>(gpa & ~((1ull << 30) - 1)));
  return vmm::OnDemandMap::mapped;
}

// Table pages for splitting large EPT pages after launch: the EPT write monitor's write
// protection (issue P4, vmm/monitor/ept_platform.hpp) and MTRR re-typing (vmm/ept/
// mtrr_resync.hpp); where the EPT maps MMIO above RAM on demand (vmm/ept/ept_extent.hpp)
// another 64 for its tables: at most one per level above a 1 GiB leaf per new block, so 32
// distinct 512 GiB regions at the least before its exhaustion is answered.
// The monitor also needs the RAM from the firmware's memory map.
// The sizes are the users' shares (vmm/ept/pool_shares.hpp), so no user can take another's.
constexpr size_t kEptPoolPages = vmm::ept::kBasePoolPages;
constexpr size_t kEptOnDemandPoolPages = vmm::ept::kOnDemandPoolPages;
vmm::monitor::RamMap g_ram;

void collect_ram(vmm::monitor::RamMap& ram) {
  EFI_BOOT_SERVICES* bs = firmware().bs;
  UINTN size = 0, key = 0, desc_size = 0;
  UINT32 version = 0;
  bs->GetMemoryMap(&size, nullptr, &key, &desc_size, &version);
  size += 8 * desc_size;  // the pool allocation below may add entries
  auto* map = static_cast<uint8_t*>(alloc_pool(size));
  if (!map) return;
  if (!EFI_ERROR(bs->GetMemoryMap(&size, reinterpret_cast<EFI_MEMORY_DESCRIPTOR*>(map), &key, &desc_size, &version)))
    for (UINTN off = 0; off + desc_size <= size; off += desc_size) {
      const auto* d = reinterpret_cast<const EFI_MEMORY_DESCRIPTOR*>(map + off);
      ram.add_uefi_descriptor(d->Type, d->PhysicalStart, d->NumberOfPages);
    }
  free_pool(map);
}

vmm::MachineVm g_machine;
uint8_t* g_msr_bitmap = nullptr;
LaunchRun g_run;  // hypervisor memory: filled before each launch, hidden from the guest after

// apic_virt: one virtual-APIC page per CPU to be launched (runtime memory, hidden from the
// guest with the rest). False, with none handed out, when memory runs short.
bool give_virtual_apic_pages(unsigned cpus) {
  for (unsigned i = 0; i < cpus; ++i) {
    if (!g_run.attempted[i]) continue;
    auto* page = static_cast<vmm::apic::VirtualApicPage*>(alloc_runtime_pages(1));
    if (!page) {
      for (unsigned j = 0; j < i; ++j)
        if (g_run.attempted[j]) g_run.cpus[j].vcpu->vapic = nullptr;
      return false;
    }
    g_run.cpus[i].vcpu->vapic = page;
  }
  return true;
}

}  // namespace

VirtualizeSummary virtualize_all_cpus(const Config& cfg, const bool* attempt, const vmm::GuestContinuation& bsp_resume,
                                      LoaderHandoff* handoff, LaunchAllFn launch_all, void* ctx) {
  const unsigned cpus = cpu_count();
  VirtualizeSummary summary{cpus, 0};

  // The BSP's capabilities decide the machine-wide structures; each CPU checks its own.
  vmx::VmxCapabilities caps = vmx::load_capabilities(hw_rdmsr, nullptr, host_enumerates_apx());
  vmx::CheckResult check = vmx::check_required(caps);
  if (!check.ok) {
    APEX_LOG(error, "VMX refused: %s", check.reason);
    return summary;
  }

  // Guest policy: APX exposure, which exit-information form the CPU writes.
  vmm::policy::HostCpuInfo host = host_cpu_info();
  vmm::GuestPolicy& policy = g_machine.policy;
  policy.apx = vmm::policy::decide_apx_policy(
      host, cfg.apx == ApxMode::off ? vmm::policy::ApxConfig::off : vmm::policy::ApxConfig::auto_detect);
  const bool host_apx = host_enumerates_apx();
  policy.exit_info_form = vmx::exit_info_form(host_apx);
  policy.dt_guard = cfg.dt_guard && caps.has_descriptor_table_exiting();
  policy.cr0_fixed0 = caps.cr0_fixed0;
  policy.cr0_fixed1 = caps.cr0_fixed1;
  policy.cr4_fixed0 = caps.cr4_fixed0;
  policy.cr4_fixed1 = caps.cr4_fixed1;
  policy.unrestricted_guest = true;  // required by check_required
  policy.activity_shutdown = caps.activity_shutdown();
  policy.linear_57 = arch::cpuid(0).eax >= 7 && (arch::cpuid(7, 0).ecx & vmm::policy::cpuid::kLeaf7EcxLa57);
  APEX_LOG(info, "APX for guests: %s (%s); exit info: %s", policy.apx.expose_apx ? "exposed" : "hidden",
           vmm::policy::apx_reason_text(policy.apx.reason), host_apx ? "extended" : "legacy");
  if (cfg.dt_guard && !policy.dt_guard) APEX_LOG(warn, "dt_guard=on but this CPU has no descriptor-table exiting");

  // Physical address space: everything the memory map describes, and at least 4 GiB so the
  // MMIO below 4 GiB is covered: the host's page tables, and the EPT at boot. The EPT goes on
  // to 2^MAXPHYADDR (vmm/ept/ept_extent.hpp), at boot or on demand.
  const uint8_t max_phys_bits =
      arch::cpuid(0x80000000).eax >= 0x80000008 ? static_cast<uint8_t>(arch::cpuid(0x80000008).eax & 0xff) : 0;
  uint64_t top = memory_map_top();
  if (top < (4ull << 30)) top = 4ull << 30;
  top = (top + (1ull << 30) - 1) & ~((1ull << 30) - 1);
  const vmm::ept::EptExtent extent = vmm::ept::plan_ept_extent(max_phys_bits, top, vmm::ept::ept_features(caps));
  if (top > extent.reach) top = extent.reach;  // never: RAM lies below 2^MAXPHYADDR
  g_host_top = top;
  policy.max_phys_bits = max_phys_bits;

  g_machine.host_cr3 = vmm::build_host_page_tables(top, alloc_page_for_host, nullptr);
  g_msr_bitmap = static_cast<uint8_t*>(alloc_runtime_pages(1));
  if (!g_machine.host_cr3 || !g_msr_bitmap || !allocate_launch_run(g_run, cpus)) {
    APEX_LOG(error, "out of runtime memory for host page tables and launch records: not virtualizing");
    return summary;
  }
  vmm::build_msr_bitmap(g_msr_bitmap);
  g_machine.msr_bitmap = g_msr_bitmap;
  g_machine.vpid = caps.has_vpid();

  for (unsigned i = 0; i < cpus; ++i) {
    g_run.attempted[i] = attempt[i];
    if (!attempt[i]) continue;
    vmm::CpuVm& c = g_run.cpus[i];
    c.index = i;
    c.host = static_cast<vmm::HostCpu*>(alloc_runtime_pages(sizeof(vmm::HostCpu) / 4096));
    c.vcpu = static_cast<vmm::Vcpu*>(alloc_runtime_pages((sizeof(vmm::Vcpu) + 4095) / 4096));
    c.vmxon_region = alloc_runtime_pages(1);
    c.vmcs = alloc_runtime_pages(1);
    if (!c.host || !c.vcpu || !c.vmxon_region || !c.vmcs) {
      APEX_LOG(error, "cpu%u: out of runtime memory for its VMX structures", i);
      g_run.attempted[i] = false;
      continue;
    }
    // Registered now, while the BSP is still the host: once launched, the guest cannot reach
    // the vCPU (its memory is hidden from EPT). Hypercalls find other CPUs' counters here.
    c.vcpu->index = i;
    vmm::register_vcpu(c.vcpu);
  }

  // EPT last among the allocations, so that it can hide every one of them, itself included.
  static RuntimePageAllocator allocator;
  static vmm::ept::EptIdentityMap ept(allocator);
  vmm::ept::MtrrSnapshot mtrrs =
      vmm::ept::load_mtrrs(hw_rdmsr, nullptr, arch::cpuid(1).edx & (1u << 12), max_phys_bits);
  vmm::ept::EptStatus st = ept.build_identity(mtrrs, extent.eager_end, vmm::ept::ept_features(caps), extent.reach);
  g_ept = &ept;
  // Guest memory as every emulated instruction reaches it (vmm/guest_memory/guest_phys_view.hpp):
  // RAM through the identity map, hypervisor memory reading zeros and dropping writes; the
  // trapped APIC page and the monitor's pages are routed below. Stateless: all CPUs share it.
  static vmm::guest_memory::HostPhysMemory guest_ram(gpa_visible);
  static vmm::guest_memory::GuestPhysView guest_view(&guest_ram, hypervisor_memory, vmm::guest_memory::this_cpu_exit);
  policy.guest_ram = &guest_view;
  policy.hypervisor_memory = hypervisor_memory;

  // How guest APs get started (issue P6). Intercept: the guest's xAPIC writes must exit,
  // through the CPU's APIC-register virtualization where offered (apic_virt=auto), else by
  // making the xAPIC page read-only in the EPT.
  const char* why = "";
  vmm::apic::ApStartMode mode = choose_ap_start_mode(cfg, caps, &why);
  const uint64_t apic_base = arch::rdmsr(arch::Msr::IA32_APIC_BASE) & 0xffffff000ull;
  const bool trap_writes = mode == vmm::apic::ApStartMode::intercept && st == vmm::ept::EptStatus::ok;
  const bool nested = arch::cpuid(1).ecx & (1u << 31);  // CPUID.1:ECX[31]: a hypervisor is present
  vmm::apic::ApicVirtChoice vchoice =
      vmm::apic::choose_apic_virtualization(caps, cfg.apic_virt != ApicVirtMode::off, trap_writes, nested);
  if (trap_writes) {
    g_topology.count = cpus;
    for (unsigned i = 0; i < cpus; ++i) g_topology.apic_id[i] = cpu_info(i).apic_id;
    // Both APIC interfaces: the xAPIC page and the x2APIC ICR MSR (msr_policy.def), since a
    // guest may switch its APIC to x2APIC mode at any time.
    static vmm::apic::MmioXapic real_apic(apic_base);
    static vmm::apic::RegistryApTargets targets;
    g_apic_intercept.init(apic_base, &real_apic, &g_topology, &targets);
    guest_view.route_apic_page(apic_base, &g_apic_intercept);  // every emulated access to it
    vmm::apic::set_x2apic_topology(&g_topology);
    vmm::apic::set_trapped_apic_base(apic_base);  // the guest may not move it (apic_base_write.hpp)
    if (vchoice.use && !give_virtual_apic_pages(cpus)) vchoice = {false, "out of runtime memory for virtual-APIC pages"};
    if (vchoice.use) {
      g_virtual_apic.init(apic_base, &real_apic, &g_topology, &targets, &g_apic_intercept);
      vmm::apic::set_virtual_apic(&g_virtual_apic);
      g_machine.apic_access_address = apic_base;
    } else {
      st = ept.set_permissions(apic_base, 4096, true, false, false);
      if (st == vmm::ept::EptStatus::ok) vmm::register_ept_write_intercept(&g_apic_intercept);
    }
  }
  vmm::apic::set_ap_start_mode(mode);
  APEX_LOG(info, "INIT/SIPI: %s (%s)", vmm::apic::ap_start_mode_name(mode), why);
  char offered[160];
  vmm::apic::describe_apic_virtualization(caps, offered, sizeof offered);
  // The decision at info; what the CPU offers at debug (every byte on a polled UART costs
  // boot time, bench/results.md).
  if (!trap_writes)
    APEX_LOG(info, "local APIC: no APIC exits (APIC virtualization not used: %s)", vchoice.why);
  else if (vchoice.use)
    APEX_LOG(info, "local APIC: writes trapped by APIC-register virtualization");
  else
    APEX_LOG(info, "local APIC: writes trapped through the EPT (APIC virtualization not used: %s)",
             vchoice.why);
  APEX_LOG(debug, "local APIC: APIC virtualization offered: %s", offered);
  // Hidden pages read as zeros (a page of our own, itself hidden): Linux's direct map reads
  // reserved memory now and then, and must neither crash nor see the hypervisor.
  if (void* zero_page = alloc_runtime_pages(1)) ept.set_hidden_backing(reinterpret_cast<uint64_t>(zero_page));
  // EPT write monitor: its pages are taken now so that the loop below hides them too.
  vmm::monitor::StepMethod step{};
  const bool monitor_ok = vmm::monitor::step_method_for(caps, &step) && st == vmm::ept::EptStatus::ok;
  const size_t pool_pages = kEptPoolPages + (extent.on_demand() ? kEptOnDemandPoolPages : 0);
  auto* ept_pool = static_cast<uint8_t*>(alloc_runtime_pages(pool_pages));
  auto* monitor_snapshots =
      monitor_ok ? static_cast<uint8_t*>(alloc_runtime_pages(cpus * vmm::monitor::kSnapshotPagesPerCpu)) : nullptr;
  const MemoryRange* ranges = nullptr;
  size_t range_count = runtime_allocations(&ranges);
  // Hiding splits pages and may allocate more tables; those allocations extend `ranges`,
  // so loop until every range, the new ones included, is hidden.
  for (size_t i = 0; st == vmm::ept::EptStatus::ok && i < range_count; ++i) {
#ifndef APEXVISOR_MUTATION_EPT_NO_HIDING
    st = ept.hide(ranges[i].base, ranges[i].size);
#endif
    range_count = runtime_allocations(&ranges);
  }
  if (st != vmm::ept::EptStatus::ok) {
    APEX_LOG(error, "EPT: %s: not virtualizing", vmm::ept::ept_status_text(st));
    return summary;
  }
  bool all_recorded = true;
  (void)runtime_allocations(&ranges, &all_recorded);
  if (!all_recorded) {
    APEX_LOG(error, "EPT: more hypervisor memory ranges than can be recorded: some could not be hidden; not virtualizing");
    return summary;
  }
  g_machine.eptp = ept.eptp().raw;
  const auto& es = ept.stats();
  APEX_LOG(debug, "EPT: identity map of %llu GiB: %llu x 1G, %llu x 2M, %llu x 4K pages; %llu KiB of tables; %llu hypervisor pages hidden",
           static_cast<unsigned long long>(ept.mapped_end() >> 30), static_cast<unsigned long long>(es.leaves_1g),
           static_cast<unsigned long long>(es.leaves_2m), static_cast<unsigned long long>(es.leaves_4k),
           static_cast<unsigned long long>(es.table_kib()), static_cast<unsigned long long>(es.hidden_pages));
  // The decision (the extent mapped at boot) in one line at info; the page counts above at debug.
  if (extent.on_demand())
    APEX_LOG(info, "EPT: %u-level, [%llu GiB, 2^%u) mapped on first access (%llu KiB of tables saved), %llu pages hidden",
             extent.levels, static_cast<unsigned long long>(ept.mapped_end() >> 30),
             static_cast<unsigned>(__builtin_ctzll(extent.reach)),
             static_cast<unsigned long long>(extent.high_table_pages * 4), static_cast<unsigned long long>(es.hidden_pages));
  else
    APEX_LOG(info, "EPT: %u-level, [0, 2^%u) mapped, %llu pages hidden",
             extent.levels, static_cast<unsigned>(__builtin_ctzll(extent.reach)), static_cast<unsigned long long>(es.hidden_pages));
  if (extent.capped)
    APEX_LOG(warn, "EPT: MAXPHYADDR %u but no 5-level EPT walk: guest-physical addresses from 2^48 up are not mapped",
             extent.phys_bits);
  if (es.conflict_bytes)
    APEX_LOG(warn, "EPT: %llu bytes mapped UC because of overlapping MTRRs with undefined precedence",
             static_cast<unsigned long long>(es.conflict_bytes));
  // With the image's runtime copy, whose own line is at debug (efi_main.cpp).
  APEX_LOG(info, "memory: %llu KiB held (EPT tables %llu KiB), image %llu KiB",
           static_cast<unsigned long long>(runtime_bytes_allocated() / 1024), static_cast<unsigned long long>(es.table_kib()),
           static_cast<unsigned long long>(image_size() / 1024));
  APEX_LOG(debug, "memory: %llu pages handed out from %u AllocatePages calls",
           static_cast<unsigned long long>(runtime_pages_used()), runtime_allocation_calls());
  // The EPT hides hypervisor memory from the CPUs only; a bus-master device the guest programs
  // reaches physical memory past it. Said once, plainly (README, "What a guest can and cannot do").
  APEX_LOG(info, "isolation: no DMA protection (no VT-d support yet)");
  // What hypercall code_checksum covers: this image's code, between gnu-efi's linker symbols.
  vmm::set_hypervisor_code(_text, static_cast<size_t>(_etext - _text));
  // What hypercall ept_page walks, and the bound of its argument.
  vmm::set_hypercall_ept(&ept, extent.phys_bits >= 64 ? ~0ull : 1ull << extent.phys_bits);

  // From here on the map is live: splits take the hidden pool's pages. None left: the monitor's
  // update reports out of memory and changes nothing; an MTRR re-type maps the large page UC
  // instead of splitting it (vmm/ept/ept_update.cpp).
  allocator.go_live(ept_pool, pool_pages);
  // The guest's MTRRs are virtual from here on, one state for every CPU starting from the
  // boot CPU's (vmm/ept/virtual_mtrrs.hpp): the hardware MTRRs keep the firmware's values.
  static vmm::ept::VirtualMtrrs virtual_mtrrs;
  virtual_mtrrs.init(mtrrs);
  vmm::set_virtual_mtrrs(&virtual_mtrrs);
  g_virtual_mtrrs = &virtual_mtrrs;
  if (extent.on_demand()) policy.ept_on_demand = ept_on_demand;
  static vmm::ept::MtrrResync mtrr_resync;
  mtrr_resync.init(&ept, caps);
  vmm::set_mtrr_write_observer(&mtrr_resync);
  if (monitor_ok && ept_pool && monitor_snapshots) {
    collect_ram(g_ram);
    vmm::monitor::Range watch[Config::kMonitorMax];
    for (size_t i = 0; i < cfg.monitor_count; ++i) watch[i] = {cfg.monitor[i].gpa, cfg.monitor[i].size};
    vmm::monitor::start_write_monitor(ept, g_ram, gpa_visible, guest_view, caps, monitor_snapshots, cpus, watch,
                                      static_cast<unsigned>(cfg.monitor_count));
  } else {
    APEX_LOG(warn, "monitor: EPT write monitor unavailable (%s)",
             monitor_ok ? "out of runtime memory" : "neither the monitor trap flag nor the VMX-preemption timer");
  }

  vmm::set_machine_vm(&g_machine);
  vmm::monitor::write_monitor_launching();
  g_run.outcome = handoff->outcome;
  handoff->vpid = g_machine.vpid;
  launch_all(launch_one, &g_run, bsp_resume, ctx);
  // Here only when the BSP was not launched (a launched BSP continues in the firmware image).
  summary.virtualized = launched(g_run);
  return summary;
}

}  // namespace boot
