// How an Event becomes the VM-entry interruption information: the SDM's rules in one place
// (design.md "Events are injected by the SDM rules in one place").
//
// - Error code (SDM Vol 3C 27.2.1.3, the VM-entry checks on event injection; Vol 3A 6.13):
//   only hardware exceptions that push one (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP) and only
//   when the guest is in protected mode (CR0.PE=1). A real-mode guest (unrestricted guest)
//   with the deliver-error-code bit set fails VM entry: the CPU would be lost for good, so
//   the bit follows the vector and the mode, never the handler's wish.
// - RFLAGS.RF (Vol 3A 18.3.1.1): a fault-class exception pushes RFLAGS with RF=1, so that the
//   handler's IRET does not hit an instruction breakpoint on the faulting instruction again.
//   Hardware does that itself for faults it raises; for one we inject, RF goes into the guest
//   RFLAGS before entry, as KVM does (kvm_queue_exception: EXCPT_FAULT sets RF). Traps (#DB,
//   #BP, #OF), aborts (#DF, #MC) and NMIs keep RFLAGS as it is.
// - Software interrupts and exceptions need the instruction length (the return RIP).
// Pure and host-tested (tests/unit/vmm/event_injection_test.cpp).
#pragma once
#include <stdint.h>

#include "apexvisor_mutation.h"  // tests/mutation/run only
#include "arch/cr_bits.hpp"
#include "vmm/exit_action.hpp"
#include "vmx/exit_qualification.hpp"
#include "vmx/exit_reason.hpp"
#include "vmx/guest_non_register_state.hpp"

namespace vmm {

// Hardware exceptions that push an error code in protected mode (SDM Vol 3A Table 6-1).
constexpr bool vector_pushes_error_code(uint8_t v) {
  return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21;
}

// Fault-class exceptions (SDM Vol 3A Table 6-1, "Type"): everything but the traps #DB (1; its
// fault form, an instruction breakpoint, sets RF when the CPU raises it), #BP (3), #OF (4),
// the aborts #DF (8) and #MC (18), and NMI (2, an interrupt).
constexpr bool vector_is_fault(uint8_t v) {
  return v < 32 && v != 1 && v != 2 && v != 3 && v != 4 && v != 8 && v != 18;
}

constexpr bool needs_instruction_length(EventType t) {
  return t == EventType::software_interrupt || t == EventType::software_exception ||
         t == EventType::privileged_software_exception;
}

struct Injection {
  uint32_t interruption_info;  // VM-entry interruption-information field
  bool deliver_error_code;     // write the error-code field too
  uint32_t error_code;
  bool set_rf;                 // OR RFLAGS.RF into the guest RFLAGS
  bool instruction_length;     // copy the exiting instruction's length
};

// The injection of `e` into a guest whose CR0 is `guest_cr0`.
constexpr Injection plan_injection(Event e, uint64_t guest_cr0) {
  const bool hw = e.type == EventType::hardware_exception;
#ifdef APEXVISOR_MUTATION_REAL_MODE_GP_ERROR_CODE
  const bool deliver = hw && vector_pushes_error_code(e.vector);
#else
  const bool deliver = hw && vector_pushes_error_code(e.vector) && (guest_cr0 & arch::cr0::PE);
#endif
  // SDM Vol 3C 25.8.3: vector 7:0, type 10:8, deliver error code 11, valid 31.
  const uint32_t info = e.vector | (static_cast<uint32_t>(e.type) << 8) | (deliver ? 1u << 11 : 0u) | (1u << 31);
  return {info, deliver, deliver ? e.error_code : 0u, hw && vector_is_fault(e.vector),
          needs_instruction_length(e.type)};
}

// ---------------------------------------------------------------------------------------
// Re-injection of an event whose delivery caused the VM exit (SDM Vol 3C 28.2.4 "Information
// for VM Exits That Occur During Event Delivery", 28.2.5 for the instruction length; 27.2.4
// and 27.2.5 in older editions). When delivering an event — reading the IDT gate, the GDT/LDT
// descriptor, the TSS, or pushing the frame — causes a VM exit (an EPT violation on the stack
// page, an APIC access, an intercepted exception), the event was NOT delivered: the guest
// state is the one from before the delivery (RIP at the interrupted instruction, RSP and
// RFLAGS unchanged), and the IDT-vectoring information (0x4408: vector 7:0, type 10:8, error
// code valid 11, bit 12 undefined, valid 31), its error code (0x440A) and, for a software
// interrupt or exception, the instruction length (0x440C) describe it. There is no
// instruction to emulate: the handler makes the delivery possible, and the event goes into the
// VM-entry interruption information again, or it is lost (an external interrupt would stay in
// the APIC's ISR forever, an NMI would never run its handler). The rules:
// - Vector, type and deliver-error-code are copied; bits 30:12 are cleared (bit 12 is
//   undefined here, and the VM-entry checks, 27.2.1.3, require them 0).
// - The error code is copied when bit 11 is set: the CPU set it only for a vector that pushes
//   one in protected mode, so plan_injection's rule holds already.
// - Software interrupts (INT n), privileged software exceptions (INT1) and software
//   exceptions (INT3, INTO) get the exiting instruction's length back: the frame's return
//   RIP is RIP + length.
// - RFLAGS is left as saved: the CPU saved it as it was before the delivery began, and the
//   second delivery pushes it as the first would have (KVM re-injects without touching RF;
//   only a fault we raise ourselves gets RF, plan_injection).
// - An NMI whose delivery exited is not blocking NMIs yet (blocking starts with the
//   delivery, Vol 3A 6.7.1); the VM-entry checks (27.3.1.5) refuse to inject an NMI while
//   "blocking by NMI" is set, so it is cleared, as KVM does (__vmx_complete_interrupts). The
//   delivery at VM entry sets it again, exactly once.
// - External interrupts and NMIs are injected only without blocking by STI or MOV SS (the
//   same checks); the CPU delivered them, so neither was in effect: cleared for both.
// - Types 1 and 7 never describe a vectored event in this field: nothing to re-inject.
struct Reinjection {
  bool valid;                      // an event to inject again
  uint32_t interruption_info;      // VM-entry interruption-information field
  bool deliver_error_code;         // write the VM-entry exception error code too
  uint32_t error_code;
  bool instruction_length;         // copy the VM-exit instruction length into the VM-entry one
  uint64_t clear_interruptibility; // bits of the guest interruptibility state to clear
};

constexpr bool idt_vectoring_valid(uint32_t idt_info) { return idt_info & (1u << 31); }

constexpr Reinjection plan_reinjection(uint32_t idt_info, uint32_t idt_error_code) {
#ifdef APEXVISOR_MUTATION_NO_REINJECTION
  return {};
#endif
  if (!idt_vectoring_valid(idt_info)) return {};
  const auto type = static_cast<EventType>((idt_info >> 8) & 7);
  if (type != EventType::external_interrupt && type != EventType::nmi && type != EventType::hardware_exception &&
      type != EventType::software_interrupt && type != EventType::privileged_software_exception &&
      type != EventType::software_exception)
    return {};
  const bool error_code = idt_info & (1u << 11);
  namespace intr = vmx::interruptibility;
  uint64_t clear = 0;
  if (type == EventType::nmi) clear |= intr::blocking_by_nmi;
  if (type == EventType::nmi || type == EventType::external_interrupt)
    clear |= intr::blocking_by_sti | intr::blocking_by_mov_ss;
  return {true, idt_info & (0xffu | 0x700u | (1u << 11) | (1u << 31)), error_code, error_code ? idt_error_code : 0u,
          needs_instruction_length(type), clear};
}

// ---------------------------------------------------------------------------------------
// An exception raised while an event was being delivered (SDM Vol 3A 6.15 "Exception and
// Interrupt Handling", Interrupt 8, Tables 6-4 and 6-5). A handler that answers an exit during
// event delivery with an exception (a task switch through an IDT task gate refused with #TS;
// any future one) must not simply replace the interrupted event, which the dispatcher has
// programmed to be injected again: the processor would have combined the two.
// - Classes (Table 6-4): contributory #DE, #TS, #NP, #SS, #GP, #CP; #PF its own class; #DF;
//   everything else benign: the other exceptions, NMI, INTR, INT n, INT3, INTO, INT1.
// - Table 6-5, first event (rows) against the second exception (columns):
//     benign first: the second is handled (serially);
//     contributory first: contributory second -> #DF(0); #PF or benign second -> serially;
//     #PF first: #PF or contributory second -> #DF(0); benign second -> serially;
//     #DF first: contributory or #PF second -> shutdown; benign second -> serially.
// "Serially" means the second exception is delivered and the first delivery is abandoned, as
// on hardware (RIP still points at the interrupted instruction: a fault recurs when it runs
// again; an INT n runs again; an INTR already acknowledged stays in the APIC's ISR, as it
// would). Shutdown is the triple fault's answer: the vCPU enters the shutdown activity state
// (vmm/handlers/triple_fault.cpp).
// One function for every handler and the task switch (vmm/handlers/task_switch.cpp), applied
// by the dispatcher (settle_delivery_exit, vmm/exit_dispatch.hpp).
enum class ExceptionClass : uint8_t { benign, contributory, page_fault, double_fault };

constexpr ExceptionClass exception_class(EventType type, uint8_t v) {
  if (type != EventType::hardware_exception) return ExceptionClass::benign;
  if (v == vector::DE || v == vector::TS || v == vector::NP || v == vector::SS || v == vector::GP || v == 21)
    return ExceptionClass::contributory;
  if (v == vector::PF) return ExceptionClass::page_fault;
  if (v == vector::DF) return ExceptionClass::double_fault;
  return ExceptionClass::benign;
}

enum class DeliveryFault : uint8_t { second, double_fault, shutdown };

// Table 6-5 for `second`, raised while delivering `first`.
constexpr DeliveryFault combine_delivery_fault(ExceptionClass first, ExceptionClass second) {
  const bool harmful = second == ExceptionClass::contributory || second == ExceptionClass::page_fault;
  switch (first) {
    case ExceptionClass::benign: return DeliveryFault::second;
    case ExceptionClass::contributory:
      return second == ExceptionClass::contributory ? DeliveryFault::double_fault : DeliveryFault::second;
    case ExceptionClass::page_fault: return harmful ? DeliveryFault::double_fault : DeliveryFault::second;
    case ExceptionClass::double_fault: return harmful ? DeliveryFault::shutdown : DeliveryFault::second;
  }
  return DeliveryFault::second;
}

// The handler's answer `raised` to an exit that interrupted the delivery of the event in
// IDT-vectoring information `idt_info`: an injection combined with that event by Table 6-5
// (#DF(0), or a stop for the shutdown, which the dispatcher turns into the shutdown state:
// enter_shutdown_state); anything else unchanged.
constexpr ExitAction combine_with_interrupted_event(uint32_t idt_info, ExitAction raised) {
  if (raised.kind != ExitAction::Kind::inject || !idt_vectoring_valid(idt_info)) return raised;
  const ExceptionClass first =
      exception_class(static_cast<EventType>((idt_info >> 8) & 7), static_cast<uint8_t>(idt_info & 0xff));
  switch (combine_delivery_fault(first, exception_class(raised.event.type, raised.event.vector))) {
    case DeliveryFault::second: return raised;
    case DeliveryFault::double_fault: return ExitAction::inject({vector::DF, EventType::hardware_exception, true, 0});
    case DeliveryFault::shutdown:
      return ExitAction::stop("triple fault: an exception while delivering #DF (shutdown)");
  }
  return raised;
}

// ---------------------------------------------------------------------------------------
// NMI unblocking due to IRET (SDM Vol 3C 28.2.1 and 28.2.2: bit 12 of the exit qualification
// of EPT-violation, PML-full and SPP-related exits, of the VM-exit interruption information of
// exception exits; 28.2.3 / 27.2.3 in older editions for the VMM's side). An IRET unblocks
// NMIs as it begins, even when it faults or exits part-way (28.1, 27.1 in older editions:
// blocking by NMI, or virtual-NMI blocking, is cleared before the exit commences). The bit says
// the IRET that exited had found NMIs blocked. If the guest is resumed at that IRET to execute
// it again (the EPT made the access possible: ExitAction resume), blocking must be set again
// before entry, else an NMI can arrive before the IRET completes and nest inside the NMI
// handler, on its own stack frame (KVM does the same: handle_ept_violation, errata AAK134,
// BY25). When the IRET is emulated (advance) it did unblock NMIs; when its fault is reflected
// (inject) the IRET faulted, which unblocks them on hardware too: both leave it clear.
// The bit is undefined when the exit interrupted an event delivery (IDT-vectoring valid), for
// a #DF exit, and with "NMI exiting" but not "virtual NMIs" (apexvisor sets both where the
// CPU allows it: launch.cpp); it is read only where it is defined.
constexpr bool iret_reblocks_nmi(uint16_t basic_reason, uint64_t qualification, uint32_t exit_interruption_info,
                                 bool virtual_nmis, bool event_delivery) {
  if (!virtual_nmis || event_delivery) return false;
  using R = vmx::ExitReason;
  constexpr uint64_t bit = vmx::ept_violation_qual::nmi_unblocking_iret;
  switch (static_cast<R>(basic_reason)) {
    case R::ept_violation:
    case R::page_modification_log_full:
    case R::spp_related_event: return qualification & bit;
    case R::exception_or_nmi: {
      const bool valid = exit_interruption_info & (1u << 31);
      const bool df = (exit_interruption_info & 0x7ff) == ((3u << 8) | vector::DF);
      return valid && !df && (exit_interruption_info & bit);
    }
    default: return false;
  }
}

}  // namespace vmm
