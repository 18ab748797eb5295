#include "vmm/handlers/mtrr_write.hpp"

#include "arch/msr.hpp"
#include "vmm/ept/mtrr.hpp"

namespace vmm {
namespace {
MtrrWriteObserver* g_observer = nullptr;
ept::VirtualMtrrs* g_mtrrs = nullptr;
}  // namespace

void set_mtrr_write_observer(MtrrWriteObserver* observer) { g_observer = observer; }

void set_virtual_mtrrs(ept::VirtualMtrrs* mtrrs) { g_mtrrs = mtrrs; }

bool is_virtual_mtrr_msr(uint32_t msr) {
  return ept::is_mtrr_msr(msr) || msr == static_cast<uint32_t>(arch::Msr::IA32_MTRRCAP);
}

bool read_virtual_mtrr(uint32_t msr, uint64_t* value) { return g_mtrrs && g_mtrrs->read(msr, value); }

ExitAction handle_mtrr_write(ExitContext& ctx, uint32_t msr, uint64_t value) {
  if (g_mtrrs == nullptr) return ExitAction::gp0();
  const ept::VirtualMtrrs::WriteResult w = g_mtrrs->write(msr, value);
  if (!w.accepted) return ExitAction::gp0();
  if (w.enabled && g_observer) g_observer->mtrrs_changed(ctx, *g_mtrrs);
  return ExitAction::advance();
}

}  // namespace vmm
