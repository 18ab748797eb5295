#include "vmm/apic/apic_base_write.hpp"

#include "arch/msr.hpp"
#include "vmm/log/log.hpp"

namespace vmm::apic {
namespace {

uint64_t g_trapped_base = 0;
// IA32_APIC_BASE bits 12 and up, to the architectural maximum of 52 physical-address bits
// (SDM Vol 3A 11.4.4; bits above MAXPHYADDR are reserved and #GP in the hardware's WRMSR).
constexpr uint64_t kBaseMask = 0x000ffffffffff000ull;

}  // namespace

void set_trapped_apic_base(uint64_t base) { g_trapped_base = base & kBaseMask; }

ExitAction handle_apic_base_write(ExitContext& ctx, uint64_t value) {
  if (g_trapped_base && (value & kBaseMask) != g_trapped_base) {
    APEX_LOG_GUEST(error, "cpu%u: the guest moves its local APIC to 0x%llx: refused with #GP(0), its APIC writes are "
             "trapped at 0x%llx (init_sipi=intercept)", ctx.vcpu.index,
             static_cast<unsigned long long>(value & kBaseMask), static_cast<unsigned long long>(g_trapped_base));
    return ExitAction::gp0();
  }
  if (!ctx.host.wrmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE), value)) return ExitAction::gp0();
  return ExitAction::advance();
}

}  // namespace vmm::apic
