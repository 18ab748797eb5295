// The end of a guest instruction the hypervisor carried out instead of the guest (an
// `advance` exit, an emulated memory write): what the processor would have done to the
// guest's state had the instruction completed in the guest.
//
// Templates over the VMCS accessor: the exit path instantiates them with HardwareVmcs
// (inline VMREAD/VMWRITE, no virtual calls), the unit tests and handlers with VmcsAccess
// (FakeVmcs). The common case costs one VMREAD of the interruptibility state and a test of
// RFLAGS; the writes happen only when a bit has to change.
#pragma once
#include <stdint.h>

#include "arch/cr_bits.hpp"
#include "vmm/single_step_record.hpp"
#include "vmx/guest_non_register_state.hpp"
#include "vmx/vmcs_field.hpp"

namespace vmm {

// A single-step trap is due after the instruction: RFLAGS.TF was 1 when it began and
// IA32_DEBUGCTL.BTF is 0 (SDM Vol 3A 17.3.1.4; with BTF=1, TF steps on branches only, and no
// instruction the hypervisor carries out is a branch). Pended as BS in the pending debug
// exceptions field: VM entry then delivers #DB with DR6.BS set before the guest's next
// instruction, with the priority of a trap on the previous instruction (SDM Vol 3C 27.7.3).
// The guest's IA32_DEBUGCTL is in the VMCS ("save debug controls", vmm/launch/launch.cpp).
// `record` (may be null) gets what the VMCS holds once the trap is pended, read back.
template <class Vmcs>
[[nodiscard, gnu::noinline, gnu::cold]] bool pend_single_step_trap(Vmcs& v, SingleStepRecord* record) {
  using vmx::VmcsField;
  if (v.read(VmcsField::guest_ia32_debugctl) & arch::debugctl::BTF) return true;
  const uint64_t at_exit = v.read(VmcsField::guest_pending_debug_exceptions);
  if (!v.write(VmcsField::guest_pending_debug_exceptions, at_exit | vmx::pending_debug::bs)) return false;
  if (record)
    *record = {record->pended + 1, v.read(VmcsField::guest_rip), v.read(VmcsField::guest_pending_debug_exceptions),
               at_exit, static_cast<uint16_t>(v.read(VmcsField::exit_reason))};
  return true;
}

// After the instruction completed (RIP and RFLAGS already hold the values after it):
// blocking by STI and by MOV SS ends (SDM Vol 3C 25.4.2, Table 25-3), and `single_step`
// (RFLAGS.TF was 1 as it began) pends the single-step trap. False if a VMWRITE failed.
template <class Vmcs>
[[nodiscard, gnu::always_inline]] inline bool retire_instruction(Vmcs& v, bool single_step,
                                                                 SingleStepRecord* record = nullptr) {
  using vmx::VmcsField;
  constexpr uint64_t kShadow = vmx::interruptibility::blocking_by_sti | vmx::interruptibility::blocking_by_mov_ss;
  const uint64_t intr = v.read_unchecked(VmcsField::guest_interruptibility_state);
  if (__builtin_expect((intr & kShadow) != 0, 0) && !v.write(VmcsField::guest_interruptibility_state, intr & ~kShadow))
    return false;
  if (__builtin_expect(single_step, 0)) return pend_single_step_trap(v, record);
  return true;
}

// skip_instruction() when RFLAGS.RF or TF is set: RF clears, TF pends the trap.
template <class Vmcs>
[[nodiscard, gnu::noinline, gnu::cold]] bool retire_with_flags(Vmcs& v, uint64_t rflags,
                                                                SingleStepRecord* record = nullptr) {
  using vmx::VmcsField;
  if ((rflags & arch::rflags::RF) && !v.write(VmcsField::guest_rflags, rflags & ~arch::rflags::RF)) return false;
  return retire_instruction(v, (rflags & arch::rflags::TF) != 0, record);
}

// ExitAction::advance: the exiting instruction is done, skip it. RIP moves past it (the
// VM-exit instruction length, SDM Vol 3C 28.2.5), RFLAGS.RF clears as at the successful
// completion of any instruction (SDM Vol 3A 17.3.1.1), then retire_instruction() with TF
// from the RFLAGS the exit saved (the value before the instruction; no instruction that
// exits to an `advance` handler changes TF). Stops at the first failed VMWRITE (false):
// the caller then stops the guest CPU anyway.
template <class Vmcs>
[[nodiscard, gnu::always_inline]] inline bool retire_after_rip(Vmcs& v, SingleStepRecord* record = nullptr) {
  using vmx::VmcsField;
  const uint64_t rflags = v.read_unchecked(VmcsField::guest_rflags);
  if (__builtin_expect((rflags & (arch::rflags::RF | arch::rflags::TF)) != 0, 0)) return retire_with_flags(v, rflags, record);
  return retire_instruction(v, false);
}

template <class Vmcs>
[[nodiscard, gnu::always_inline]] inline bool skip_instruction(Vmcs& v, SingleStepRecord* record = nullptr) {
  using vmx::VmcsField;
  if (!v.write(VmcsField::guest_rip,
               v.read_unchecked(VmcsField::guest_rip) + v.read_unchecked(VmcsField::vm_exit_instruction_length)))
    return false;
  return retire_after_rip(v, record);
}

// The same for an instruction of 64-bit code that the hypervisor carried out and whose
// length it knows where the exit gives none (an APIC-access exit: the MOV-load fast path,
// vmm/handlers/store32_at_rip.cpp): RIP becomes `rip` + `length`. What the emulator's
// completion and write-back would leave (decode/emulate complete_instruction: RF cleared,
// TF's trap pended; finish_emulation: STI/MOV-SS blocking ended).
template <class Vmcs>
[[nodiscard]] inline bool skip_instruction_64(Vmcs& v, uint64_t rip, unsigned length) {
  if (!v.write(vmx::VmcsField::guest_rip, rip + length)) return false;
  return retire_after_rip(v);
}

}  // namespace vmm
