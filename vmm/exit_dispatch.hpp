// Exit dispatch (design.md "The path of one boot", step 4): the basic exit reason selects a
// handler from one table (exit_handlers.def); the handler's ExitAction is applied to the
// VMCS. A reason without a handler stops the guest CPU with a dump: unknown exits are never
// silently resumed.
//
// Everything here is inline: the exit path (vmm/launch/exit_entry.cpp) runs it on every VM
// exit, and the unit tests run the same code over FakeVmcs.
#pragma once

#include "vmm/event_injection.hpp"
#include "vmm/exit_context.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/instruction_retire.hpp"
#include "vmx/controls.hpp"

namespace vmm {

namespace detail {
// The handlers as exit_handlers.def registers them (nullptr: none).
struct HandlerTable {
  ExitHandler by_reason[vmx::kExitReasonLimit] = {};
  constexpr HandlerTable() {
#define EXIT_HANDLER(reason, fn) by_reason[static_cast<unsigned>(vmx::ExitReason::reason)] = fn;
#include "vmm/exit_handlers.def"
#undef EXIT_HANDLER
  }
};
inline constexpr HandlerTable kExitHandlers;
}  // namespace detail

// The handler registered for an exit reason (nullptr: none). For tests and the dump.
inline ExitHandler exit_handler_for(uint16_t basic_reason) {
  return basic_reason < vmx::kExitReasonLimit ? detail::kExitHandlers.by_reason[basic_reason] : nullptr;
}

// Counts the exit in the vCPU's statistics (hypercall 1 reads them; exits_total() sums them).
// The exit path checks the reason against the table's size once, before this.
inline void count_exit_unchecked(Vcpu& vcpu, uint16_t basic_reason) { ++vcpu.exit_counts[basic_reason]; }
inline void count_exit(Vcpu& vcpu, uint16_t basic_reason) {
  if (basic_reason < vmx::kExitReasonLimit) count_exit_unchecked(vcpu, basic_reason);
}

// The exit reasons that can happen during the delivery of an event, for which the CPU fills
// the IDT-vectoring information (SDM Vol 3C 28.2.4): an intercepted exception or an NMI,
// a task switch through a task gate, an EPT violation or misconfiguration, an APIC access,
// a full page-modification log, an SPP-related event. For every other reason the field is
// not read (one VMREAD saved on the common exits).
constexpr bool exit_may_interrupt_delivery(uint16_t basic_reason) {
  using R = vmx::ExitReason;
  switch (static_cast<R>(basic_reason)) {
    case R::exception_or_nmi:
    case R::task_switch:
    case R::apic_access:
    case R::ept_violation:
    case R::ept_misconfiguration:
    case R::page_modification_log_full:
    case R::spp_related_event: return true;
    default: return false;
  }
}

// Programs the VM-entry event injection of the event whose delivery this exit interrupted
// (plan_reinjection, vmm/event_injection.hpp); false when there is none. Runs before the
// handler, so that whatever the handler does next (make a page writable for the delivery,
// stop) the event is not lost. A VMWRITE that fails here leaves the event lost and is
// reported through `ok`.
template <class Vmcs>
bool reinject_interrupted_event(Vmcs& vmcs, bool* ok) {
  using vmx::VmcsField;
  const uint32_t idt = static_cast<uint32_t>(vmcs.read(VmcsField::idt_vectoring_info));
  if (!idt_vectoring_valid(idt)) return false;
  const Reinjection r =
      plan_reinjection(idt, static_cast<uint32_t>(vmcs.read(VmcsField::idt_vectoring_error_code)));
  if (!r.valid) return false;
  bool good = vmcs.write(VmcsField::vm_entry_interruption_info, r.interruption_info);
  if (r.deliver_error_code) good &= vmcs.write(VmcsField::vm_entry_exception_error_code, r.error_code);
  if (r.instruction_length)
    good &= vmcs.write(VmcsField::vm_entry_instruction_length, vmcs.read(VmcsField::vm_exit_instruction_length));
  if (r.clear_interruptibility) {
    const uint64_t s = vmcs.read(VmcsField::guest_interruptibility_state);
    if (s & r.clear_interruptibility)
      good &= vmcs.write(VmcsField::guest_interruptibility_state, s & ~r.clear_interruptibility);
  }
  *ok = good;
  return true;
}

// After the handler of an exit that can interrupt an event delivery (rare exits only; the
// common ones never come here), the two SDM rules that depend on the handler's answer:
// - during a delivery, an exception the handler raises is combined with the interrupted event
//   by the double-fault rules (combine_with_interrupted_event, vmm/event_injection.hpp);
// - otherwise, a guest resumed at an IRET that found NMIs blocked gets "blocking by NMI" back
//   (iret_reblocks_nmi, same file).
inline ExitAction settle_delivery_exit(ExitContext& ctx, uint16_t basic_reason, ExitAction a) {
  using vmx::VmcsField;
  if (ctx.event_delivery) {
    if (a.kind != ExitAction::Kind::inject) return a;
    const uint32_t idt_info = static_cast<uint32_t>(ctx.vmcs.read(VmcsField::idt_vectoring_info));
    const ExitAction combined = combine_with_interrupted_event(idt_info, a);
    // Its one stop: #PF or a contributory exception while delivering #DF, a triple fault.
    if (combined.kind == ExitAction::Kind::stop) return enter_shutdown_state(ctx);
    // An NMI's delivery blocks NMIs from its start until the handler's IRET; the re-injection
    // plan cleared the blocking to inject that NMI again. When an exception takes its place
    // (Table 6-5 "serially", or #DF), the blocking stands, as on hardware.
    if (combined.kind == ExitAction::Kind::inject && static_cast<EventType>((idt_info >> 8) & 7) == EventType::nmi) {
      const uint64_t s = ctx.vmcs.read(VmcsField::guest_interruptibility_state);
      if (!ctx.vmcs.write(VmcsField::guest_interruptibility_state, s | vmx::interruptibility::blocking_by_nmi))
        return ExitAction::stop("VMWRITE failed while keeping NMIs blocked for an abandoned NMI delivery");
    }
    return combined;
  }
  if (a.kind != ExitAction::Kind::resume) return a;
  const bool exception = basic_reason == static_cast<uint16_t>(vmx::ExitReason::exception_or_nmi);
  const uint64_t q = exception ? 0 : ctx.vmcs.read(VmcsField::exit_qualification);
  const uint32_t info = exception ? static_cast<uint32_t>(ctx.vmcs.read(VmcsField::vm_exit_interruption_info)) : 0;
  if (!(q & vmx::ept_violation_qual::nmi_unblocking_iret) && !(info & vmx::ept_violation_qual::nmi_unblocking_iret))
    return a;  // the usual case: no IRET (one VMREAD)
  const bool virtual_nmis = ctx.vmcs.read(VmcsField::pin_based_controls) & vmx::pin::virtual_nmis;
  if (iret_reblocks_nmi(basic_reason, q, info, virtual_nmis, false)) {
    const uint64_t s = ctx.vmcs.read(VmcsField::guest_interruptibility_state);
    if (!ctx.vmcs.write(VmcsField::guest_interruptibility_state, s | vmx::interruptibility::blocking_by_nmi))
      return ExitAction::stop("VMWRITE failed while blocking NMIs again for a re-executed IRET");
  }
  return a;
}

namespace detail {
inline ExitAction no_handler(ExitContext&) { return ExitAction::stop("no handler for this exit reason"); }

// The handler of a reason that can interrupt an event delivery: the interrupted event is
// injected again first (ExitContext::event_delivery). Generated per handler, so that the
// dispatch of every other reason is one indirect call with no test of the reason.
// The handler's answer is then settled by the delivery rules (settle_delivery_exit).
template <uint16_t Reason, ExitHandler H>
ExitAction with_reinjection(ExitContext& ctx) {
  bool ok = true;
  ctx.event_delivery = reinject_interrupted_event(ctx.vmcs, &ok);
  if (!ok) return ExitAction::stop("VMWRITE failed while injecting the interrupted event again");
  return settle_delivery_exit(ctx, Reason, H(ctx));
}

// What the exit path calls, by basic reason: every entry set (no_handler where
// exit_handlers.def has none), the delivery-capable reasons wrapped.
struct DispatchTable {
  ExitHandler by_reason[vmx::kExitReasonLimit] = {};
  constexpr DispatchTable() {
    for (ExitHandler& h : by_reason) h = no_handler;
#define EXIT_HANDLER(reason, fn)                                                                  \
  by_reason[static_cast<unsigned>(vmx::ExitReason::reason)] =                                     \
      exit_may_interrupt_delivery(static_cast<uint16_t>(vmx::ExitReason::reason))                 \
          ? with_reinjection<static_cast<uint16_t>(vmx::ExitReason::reason), fn>                  \
          : fn;
#include "vmm/exit_handlers.def"
#undef EXIT_HANDLER
  }
};
inline constexpr DispatchTable kDispatch;
}  // namespace detail

// Runs the handler for `basic_reason`, which the caller has checked against
// vmx::kExitReasonLimit; stop for a reason without one. An event whose delivery the exit
// interrupted is injected again first (detail::with_reinjection).
inline ExitAction run_exit_handler_unchecked(ExitContext& ctx, uint16_t basic_reason) {
  return detail::kDispatch.by_reason[basic_reason](ctx);
}
inline ExitAction run_exit_handler(ExitContext& ctx, uint16_t basic_reason) {
  if (basic_reason >= vmx::kExitReasonLimit) return detail::no_handler(ctx);
  return run_exit_handler_unchecked(ctx, basic_reason);
}

// Counts the exit, runs the handler for `basic_reason` (the tests' whole dispatch; the exit
// path calls the unchecked halves after its own check of the reason).
inline ExitAction dispatch_exit(ExitContext& ctx, uint16_t basic_reason) {
  count_exit(ctx.vcpu, basic_reason);
  return run_exit_handler(ctx, basic_reason);
}

// ExitAction::inject: programs the VM-entry event injection by the SDM's rules
// (vmm/event_injection.hpp). Out of line, so that the common actions do not pay for it.
template <class Vmcs>
[[gnu::noinline]] bool inject_event(Vmcs& vmcs, Event e) {
  using vmx::VmcsField;
  const Injection in = plan_injection(e, vmcs.read(VmcsField::guest_cr0));
  bool ok = vmcs.write(VmcsField::vm_entry_interruption_info, in.interruption_info);
  if (in.deliver_error_code) ok &= vmcs.write(VmcsField::vm_entry_exception_error_code, in.error_code);
  if (in.set_rf) ok &= vmcs.write(VmcsField::guest_rflags, vmcs.read(VmcsField::guest_rflags) | arch::rflags::RF);
  if (in.instruction_length)
    ok &= vmcs.write(VmcsField::vm_entry_instruction_length, vmcs.read(VmcsField::vm_exit_instruction_length));
  return ok;
}

// Applies `action` to the current VMCS: advance RIP past the exiting instruction
// (skip_instruction: RFLAGS.RF and STI/MOV-SS blocking cleared as the instruction's
// retirement would, a single-step trap pended under RFLAGS.TF), or program the event
// injection. Returns false for stop (the vCPU is marked stopped) and when a VMWRITE failed:
// the caller dumps the VMCS and never resumes this guest CPU. A template over the accessor
// so that the exit path runs it on HardwareVmcs without virtual calls.
template <class Vmcs>
[[gnu::always_inline]] inline bool apply_exit_action(Vmcs& vmcs, Vcpu& vcpu, const ExitAction& a) {
  switch (a.kind) {
    case ExitAction::Kind::resume:
      return true;
    case ExitAction::Kind::advance_rip:
      return skip_instruction(vmcs, &vcpu.single_step);
    case ExitAction::Kind::inject:
      return inject_event(vmcs, a.event);
    case ExitAction::Kind::stop:
      vcpu.state = VcpuState::stopped;
      return false;
  }
  return false;
}

// The same through the handlers' context (its VmcsAccess).
inline bool apply_exit_action(ExitContext& ctx, const ExitAction& action) {
  return apply_exit_action(ctx.vmcs, ctx.vcpu, action);
}

}  // namespace vmm
