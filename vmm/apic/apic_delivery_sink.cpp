#include "vmm/apic/apic_delivery_sink.hpp"

#include "vmm/apic/apic_page_intercept.hpp"
#include "vmm/monitor/write_monitor.hpp"

namespace vmm::apic {

ExitAction sink_apic_delivery(ExitContext& ctx, uint64_t gpa) {
  monitor::WriteMonitor* m = monitor::write_monitor();
  if (!m) return ExitAction::stop("event delivery onto the local-APIC page, and no step mechanism to discard it");
  return m->sink_apic_delivery(ctx, gpa);
}

ExitAction ApicPageIntercept::on_event_delivery(ExitContext& ctx, uint64_t gpa) { return sink_apic_delivery(ctx, gpa); }

}  // namespace vmm::apic
