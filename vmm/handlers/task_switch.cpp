// Exit reason 9, task switch. Every task switch exits in VMX non-root operation (SDM Vol 3C
// 26.4.2). Only a guest in legacy protected mode can cause one (a CALL/JMP to a TSS or task
// gate, an IRET with NT=1, an IDT task gate); in IA-32e mode the same actions #GP before any
// exit (Vol 3A 8.7). apexvisor boots UEFI firmware and the 64-bit OS it loads, so it does not
// emulate the 32-bit task switch (KVM does, in its instruction emulator): it refuses it as a
// CPU does a task switch to an unusable TSS, with #TS and the new TSS's selector as the error
// code (Vol 3A 8.3, Table 8-6), EXT set when an external event or exception led to it. When
// the switch was the delivery of an event through a task gate, the dispatcher combines the #TS
// with it by the double-fault rules, as for every exception raised during a delivery
// (combine_with_interrupted_event, vmm/event_injection.hpp; Vol 3A 6.15, Table 6-5): after a
// contributory exception or #PF it becomes #DF(0), after #DF the guest shuts down (as a triple
// fault does). So a guest whose #TS and #DF handlers are task gates ends in shutdown, never
// in a loop of exits.
// Deliberate and documented in the README's exit table (P9).
#include "vmm/handlers/task_switch.hpp"

#include "vmm/handlers/handlers.hpp"
#include "vmm/log/log.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;

enum class TaskSwitchSource : uint8_t { call = 0, iret = 1, jmp = 2, idt_task_gate = 3 };

// IDT-vectoring information (SDM 25.9.3): valid bit 31, type bits 10:8.
constexpr uint32_t kVectoringValid = 1u << 31;
constexpr uint32_t kTypeSoftwareInterrupt = 4;

}  // namespace

ExitAction task_switch_refusal(uint64_t qualification, uint32_t idt_vectoring_info) {
  const auto selector = static_cast<uint16_t>(qualification & 0xffff);
  const auto source = static_cast<TaskSwitchSource>((qualification >> 30) & 3);
  const bool vectored = source == TaskSwitchSource::idt_task_gate && (idt_vectoring_info & kVectoringValid);
  const uint32_t type = (idt_vectoring_info >> 8) & 7;
  // EXT (error-code bit 0): the switch came from an event the program did not ask for by an
  // INT n (Vol 3A 7.13 "Error Code").
  const bool external = vectored && type != kTypeSoftwareInterrupt;
  return ExitAction::inject(
      {vector::TS, EventType::hardware_exception, true, static_cast<uint32_t>((selector & 0xfffc) | external)});
}

ExitAction handle_task_switch(ExitContext& ctx) {
  const uint64_t q = ctx.vmcs.read(VmcsField::exit_qualification);
  APEX_LOG_GUEST(warn, "cpu%u: task switch to TSS selector 0x%x refused (not emulated)", ctx.vcpu.index,
                 static_cast<unsigned>(q & 0xfffc));
  return task_switch_refusal(q, static_cast<uint32_t>(ctx.vmcs.read(VmcsField::idt_vectoring_info)));
}

}  // namespace vmm
