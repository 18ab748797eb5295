#include "vmm/handlers/mtrr_write.hpp"

#include "arch/msr.hpp"
#include "vmm/ept/mtrr.hpp"

namespace vmm {
namespace {
MtrrWriteObserver* g_observer = nullptr;
}  // namespace

void set_mtrr_write_observer(MtrrWriteObserver* observer) { g_observer = observer; }

ExitAction handle_mtrr_write(ExitContext& ctx, uint32_t msr, uint64_t value) {
  if (!ctx.host.wrmsr_safe(msr, value)) return ExitAction::gp0();
  uint64_t def_type = 0;
  if (g_observer && ctx.host.rdmsr_safe(static_cast<uint32_t>(arch::Msr::IA32_MTRR_DEF_TYPE), &def_type) &&
      (def_type & ept::def_type::kEnable))
    g_observer->mtrrs_changed(ctx);
  return ExitAction::advance();
}

}  // namespace vmm
