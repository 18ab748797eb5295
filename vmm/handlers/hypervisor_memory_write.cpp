#include "vmm/handlers/hypervisor_memory_write.hpp"

#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/instruction_retire.hpp"
#include "vmm/log/log.hpp"

namespace vmm {

using guest_memory::PhysStatus;

PhysStatus HypervisorMemoryDiscard::read(uint64_t gpa, void* dst, size_t bytes) {
  if (!hypervisor_(gpa)) return ram_.read(gpa, dst, bytes);
  auto* d = static_cast<uint8_t*>(dst);
  for (size_t i = 0; i < bytes; ++i) d[i] = 0;
  return PhysStatus::ok;
}

PhysStatus HypervisorMemoryDiscard::write(uint64_t gpa, const void* src, size_t bytes) {
  if (!hypervisor_(gpa)) return ram_.write(gpa, src, bytes);
  ++discarded_;
  return PhysStatus::ok;
}

PhysStatus HypervisorMemoryDiscard::cmpxchg(uint64_t gpa, unsigned bytes, uint64_t expected, uint64_t desired,
                                            uint64_t* observed) {
  if (!hypervisor_(gpa)) return ram_.cmpxchg(gpa, bytes, expected, desired, observed);
  *observed = 0;  // what the page reads; a store it would make is discarded
  if (expected == 0) ++discarded_;
  return PhysStatus::ok;
}

ExitAction discard_hypervisor_memory_write(ExitContext& ctx) {
  if (!ctx.policy.guest_ram || !ctx.policy.hypervisor_memory)
    return ExitAction::stop("guest write into hypervisor memory, and no guest-memory view to discard it");
  if (ctx.vcpu.hypervisor_writes_discarded++ == 0)
    APEX_LOG(warn, "cpu%u: a guest write into hypervisor memory was discarded (further ones are counted, not logged)",
             ctx.vcpu.index);
  HypervisorMemoryDiscard view(*ctx.policy.guest_ram, ctx.policy.hypervisor_memory);
  bool unsupported = false;
  unsigned length = 0;
  ExitAction a = emulate_at_rip(ctx, view, nullptr, &unsupported, &length);
  if (!unsupported) return a;
  if (length == 0) return ExitAction::gp0();  // not even decodable: as for a bad fetch
  // Skipped as a whole: RIP past it, retired as an emulated instruction is.
  using vmx::VmcsField;
  uint64_t rip = ctx.vmcs.read(VmcsField::guest_rip) + length;
  if (!guest_in_64bit_mode(ctx.vmcs)) rip &= 0xffffffffull;
  if (!ctx.vmcs.write(VmcsField::guest_rip, rip) || !retire_with_flags(ctx.vmcs, ctx.vmcs.read(VmcsField::guest_rflags)))
    return ExitAction::stop("discarding a write into hypervisor memory: VMWRITE failed");
  return ExitAction::resume();
}

}  // namespace vmm
