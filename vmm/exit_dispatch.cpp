#include "vmm/exit_dispatch.hpp"

#include "vmm/handlers/handlers.hpp"

namespace vmm {
namespace {

struct HandlerTable {
  ExitHandler by_reason[vmx::kExitReasonLimit] = {};
  constexpr HandlerTable() {
#define EXIT_HANDLER(reason, fn) by_reason[static_cast<unsigned>(vmx::ExitReason::reason)] = fn;
#include "vmm/exit_handlers.def"
#undef EXIT_HANDLER
  }
};
constexpr HandlerTable kHandlers;

// SDM Vol 3C 25.4.2 "Guest Non-Register State": interruptibility bits 0 (blocking by STI)
// and 1 (blocking by MOV SS) end with the next instruction.
constexpr uint64_t kBlockingBySti = 1u << 0, kBlockingByMovSs = 1u << 1;
constexpr uint64_t kRflagsRf = 1ull << 16;

}  // namespace

ExitHandler exit_handler_for(uint16_t basic_reason) {
  return basic_reason < vmx::kExitReasonLimit ? kHandlers.by_reason[basic_reason] : nullptr;
}

ExitAction dispatch_exit(ExitContext& ctx, uint16_t basic_reason) {
  ++ctx.vcpu.exits_total;
  if (basic_reason < vmx::kExitReasonLimit) ++ctx.vcpu.exit_counts[basic_reason];
  ExitHandler handler = exit_handler_for(basic_reason);
  if (!handler) return ExitAction::stop("no handler for this exit reason");
  return handler(ctx);
}

bool apply_exit_action(ExitContext& ctx, const ExitAction& a) {
  using vmx::VmcsField;
  switch (a.kind) {
    case ExitAction::Kind::resume:
      return true;
    case ExitAction::Kind::advance_rip: {
      uint64_t rip = ctx.vmcs.read(VmcsField::guest_rip) + ctx.vmcs.read(VmcsField::vm_exit_instruction_length);
      bool ok = ctx.vmcs.write(VmcsField::guest_rip, rip);
      uint64_t intr = ctx.vmcs.read(VmcsField::guest_interruptibility_state);
      if (intr & (kBlockingBySti | kBlockingByMovSs))
        ok &= ctx.vmcs.write(VmcsField::guest_interruptibility_state, intr & ~(kBlockingBySti | kBlockingByMovSs));
      uint64_t rflags = ctx.vmcs.read(VmcsField::guest_rflags);
      if (rflags & kRflagsRf) ok &= ctx.vmcs.write(VmcsField::guest_rflags, rflags & ~kRflagsRf);
      return ok;
    }
    case ExitAction::Kind::inject: {
      // SDM Vol 3C 25.8.3: vector 7:0, type 10:8, deliver error code 11, valid 31.
      uint64_t info = a.event.vector | (static_cast<uint64_t>(a.event.type) << 8) |
                      (a.event.has_error_code ? 1ull << 11 : 0) | (1ull << 31);
      bool ok = ctx.vmcs.write(VmcsField::vm_entry_interruption_info, info);
      if (a.event.has_error_code) ok &= ctx.vmcs.write(VmcsField::vm_entry_exception_error_code, a.event.error_code);
      // Software interrupts/exceptions need the instruction length to compute the return RIP.
      if (a.event.type == EventType::software_interrupt || a.event.type == EventType::software_exception ||
          a.event.type == EventType::privileged_software_exception)
        ok &= ctx.vmcs.write(VmcsField::vm_entry_instruction_length,
                             ctx.vmcs.read(VmcsField::vm_exit_instruction_length));
      return ok;
    }
    case ExitAction::Kind::stop:
      ctx.vcpu.state = VcpuState::stopped;
      return false;
  }
  return false;
}

}  // namespace vmm
