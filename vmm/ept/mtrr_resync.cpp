#include "vmm/ept/mtrr_resync.hpp"

#include "vmm/ept/ept_status.hpp"
#include "vmm/ept/live_ept_lock.hpp"
#include "vmm/log/log.hpp"
#include "vmx/vmx_insn.hpp"

namespace vmm::ept {
namespace {

// load_mtrrs reads through a callback; the guest's CPU is the host's here (pass-through MSRs).
// A faulting read (never for an MTRR the snapshot logic asks for) reads as 0.
uint64_t read_host_msr(void* ctx, uint32_t msr) {
  uint64_t v = 0;
  return static_cast<HostOps*>(ctx)->rdmsr_safe(msr, &v) ? v : 0;
}

}  // namespace

void MtrrResync::init(EptIdentityMap* ept, const MtrrSnapshot& boot, const vmx::VmxCapabilities& caps) {
  ept_ = ept;
  mtrr_supported_ = boot.supported;
  max_phys_bits_ = boot.max_phys_bits;
  invept_single_ = caps.invept_single_context();
}

void MtrrResync::mtrrs_changed(ExitContext& ctx) {
  const unsigned cpu = ctx.vcpu.index;
  const MtrrSnapshot m = load_mtrrs(read_host_msr, &ctx.host, mtrr_supported_, max_phys_bits_);
  EptIdentityMap::RetypeResult r;
  EptStatus st;
  {
    arch::SpinGuard guard(live_ept_lock());
    st = ept_->retype(m, &r);
  }
  // Invalidate even when nothing changed: another CPU may have re-typed the tables already.
  (void)vmx::invept(invept_single_ ? vmx::InveptType::single_context : vmx::InveptType::all_context,
                    ept_->eptp().raw);
  if (st != EptStatus::ok) {
    APEX_LOG(error, "cpu%u: MTRRs changed, the EPT could not follow everywhere: %s", cpu, ept_status_text(st));
    return;
  }
  if (r.changed_leaves == 0 && r.splits == 0) {
    APEX_LOG(debug, "cpu%u: MTRRs rewritten: EPT memory types unchanged", cpu);
    return;
  }
  APEX_LOG(info, "cpu%u: MTRRs changed: EPT re-typed %llu KiB in %llu entries (%llu large pages split)", cpu,
           static_cast<unsigned long long>(r.changed_bytes / 1024), static_cast<unsigned long long>(r.changed_leaves),
           static_cast<unsigned long long>(r.splits));
  if (r.conflict_bytes)
    APEX_LOG(warn, "cpu%u: %llu KiB mapped UC because of overlapping MTRRs with undefined precedence", cpu,
             static_cast<unsigned long long>(r.conflict_bytes / 1024));
}

}  // namespace vmm::ept
