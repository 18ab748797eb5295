#include "vmm/ept/mtrr_resync.hpp"

#include "vmm/ept/ept_status.hpp"
#include "vmm/ept/virtual_mtrrs.hpp"
#include "vmm/log/log.hpp"
#include "vmx/vmx_insn.hpp"

namespace vmm::ept {

void MtrrResync::init(EptIdentityMap* ept, const vmx::VmxCapabilities& caps) {
  ept_ = ept;
  invept_single_ = caps.invept_single_context();
}

void MtrrResync::mtrrs_changed(ExitContext& ctx, VirtualMtrrs& mtrrs) {
  const unsigned cpu = ctx.vcpu.index;
  const MtrrRetype done = retype_from_virtual(*ept_, mtrrs);
  const EptStatus st = done.status;
  const EptIdentityMap::RetypeResult& r = done.result;
  // Invalidate even when nothing changed: another CPU may have re-typed the tables already.
  (void)vmx::invept(invept_single_ ? vmx::InveptType::single_context : vmx::InveptType::all_context,
                    ept_->eptp().raw);
  if (st != EptStatus::ok) {  // only "not built", which boot rules out; out of memory is answered below
    APEX_LOG_GUEST(error, "cpu%u: MTRRs changed, the EPT could not follow everywhere: %s", cpu, ept_status_text(st));
    return;
  }
  const bool changed = r.changed_leaves != 0 || r.splits != 0;
  if (!changed) {
    APEX_LOG_GUEST(debug, "cpu%u: MTRRs rewritten: EPT memory types unchanged", cpu);
  } else {
    APEX_LOG_GUEST(info, "cpu%u: MTRRs changed: EPT re-typed %llu KiB in %llu entries (%llu large pages split)", cpu,
                   static_cast<unsigned long long>(r.changed_bytes / 1024),
                   static_cast<unsigned long long>(r.changed_leaves), static_cast<unsigned long long>(r.splits));
  }
  // The warnings once per change: not again from every CPU an OS makes rewrite the same values.
  if (!changed && !done.fresh) return;
  if (r.conflict_bytes)
    APEX_LOG_GUEST(warn, "cpu%u: %llu KiB mapped UC because of overlapping MTRRs with undefined precedence", cpu,
                   static_cast<unsigned long long>(r.conflict_bytes / 1024));
  if (r.uc_fallback_bytes)
    APEX_LOG_GUEST(warn, "cpu%u: EPT table pool exhausted: %llu KiB of large pages mapped UC instead of split for "
                   "the new MTRR types", cpu, static_cast<unsigned long long>(r.uc_fallback_bytes / 1024));
}

}  // namespace vmm::ept
