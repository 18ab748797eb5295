#include "vmm/monitor/ept_platform.hpp"

#include "vmm/ept_write_intercept.hpp"
#include "vmm/log/log.hpp"
#include "vmm/ept/live_ept_lock.hpp"
#include "vmx/controls.hpp"
#include "vmx/vmx_insn.hpp"

namespace vmm::monitor {
namespace {

WriteMonitor g_monitor;  // the ring makes it ~20 KiB: static, in the (hidden) image copy
EptPlatform* g_platform = nullptr;

}  // namespace

ept::EptStatus EptPlatform::set_write_protect(uint64_t gpa, uint64_t size, bool protect) {
  // Watched pages: R+X (reads and fetches never exit); otherwise the identity map's R+W+X.
  // Under the live map's lock: MTRR re-typing (mtrr_resync.hpp) changes the same tables.
  arch::SpinGuard guard(ept::live_ept_lock());
  ept::PoolUserScope user(ept_, ept::PoolUser::monitor);  // its share of the table pool
  return ept_.set_permissions(gpa, size, true, !protect, true);
}

ept::EptStatus EptPlatform::redirect_hidden(uint64_t page, uint64_t sink_hpa) {
  arch::SpinGuard guard(ept::live_ept_lock());
  return ept_.redirect_hidden(page, sink_hpa);
}

ept::EptStatus EptPlatform::redirect_device(uint64_t page, uint64_t sink_hpa, uint64_t* saved) {
  arch::SpinGuard guard(ept::live_ept_lock());
  ept::PoolUserScope user(ept_, ept::PoolUser::apic);  // a split of the APIC page: its own share
  return ept_.redirect_leaf(page, sink_hpa, saved);
}

ept::EptStatus EptPlatform::restore_device(uint64_t page, uint64_t saved) {
  arch::SpinGuard guard(ept::live_ept_lock());
  return ept_.restore_leaf(page, saved);
}

bool EptPlatform::ept_allows_write(uint64_t gpa) {
  const ept::EptTranslation t = ept_.translate(gpa);
  return t.mapped && t.present && !t.hidden && t.w;
}

void EptPlatform::flush_this_cpu() {
  if (__atomic_load_n(&launched_, __ATOMIC_ACQUIRE))
    (void)vmx::invept(single_context_ ? vmx::InveptType::single_context : vmx::InveptType::all_context,
                      ept_.eptp().raw);
}

}  // namespace vmm::monitor

namespace vmm::monitor {

bool step_method_for(const vmx::VmxCapabilities& caps, StepMethod* method) {
  if (caps.proc_allowed(vmx::proc::monitor_trap_flag)) return *method = StepMethod::monitor_trap_flag, true;
  if (caps.has_preemption_timer()) return *method = StepMethod::preemption_timer, true;
  return false;
}

void start_write_monitor(ept::EptIdentityMap& ept, const RamMap& ram, bool (*visible)(uint64_t),
                         guest_memory::GuestPhysView& view, const vmx::VmxCapabilities& caps, uint8_t* snapshots,
                         unsigned cpus, const Range* ranges, unsigned range_count) {
  StepMethod method{};
  if (!step_method_for(caps, &method)) return;
  static EptPlatform platform(ept, ram, visible, caps.invept_single_context());
  g_platform = &platform;
  g_monitor.init(&platform, snapshots, cpus, method);
  if (!register_ept_write_intercept(&g_monitor)) {
    APEX_LOG(error, "monitor: no EPT write-intercept slot left: EPT write monitor unavailable");
    return;
  }
  set_write_monitor(&g_monitor);
  view.route_watched(&g_monitor);  // every emulated write into a watched page is recorded
  // The timer is only chosen where the CPU lacks the monitor trap flag (step_method_for), so
  // the line need not say so: every byte at the default level costs a UART character time.
  APEX_LOG(info, "monitor: ready: %u RAM ranges, single-step by %s", ram.count(),
           method == StepMethod::monitor_trap_flag ? "monitor trap flag" : "preemption timer");
  for (unsigned i = 0; i < range_count; ++i) {
    const Status st = g_monitor.add(ranges[i].gpa, ranges[i].size);
    global_log().log(st == Status::ok ? LogLevel::info : LogLevel::error, "monitor: watching 0x%llx+0x%llx: %s",
                     static_cast<unsigned long long>(ranges[i].gpa), static_cast<unsigned long long>(ranges[i].size),
                     status_name(st));
  }
}

void write_monitor_launching() {
  if (g_platform) g_platform->set_launched();
}

}  // namespace vmm::monitor
