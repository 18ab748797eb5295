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

}  // namespace vmm
