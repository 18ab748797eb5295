#include "vmm/handlers/emulate_at_rip.hpp"

#include "vmm/guest_memory/emu_state.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/instruction_retire.hpp"

namespace vmm {

ExitAction skip_unemulated(ExitContext& ctx, unsigned length) {
  if (length == 0) return ExitAction::gp0();
  using vmx::VmcsField;
  uint64_t rip = ctx.vmcs.read(VmcsField::guest_rip) + length;
  if (!guest_in_64bit_mode(ctx.vmcs)) rip &= 0xffffffffull;
  if (!ctx.vmcs.write(VmcsField::guest_rip, rip) ||
      !retire_with_flags(ctx.vmcs, ctx.vmcs.read(VmcsField::guest_rflags), &ctx.vcpu.single_step))
    return ExitAction::stop("skipping an instruction apexvisor cannot emulate: VMWRITE failed");
  return ExitAction::resume();
}

ExitAction emulate_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, guest_memory::WriteObserver* observer,
                          bool* unsupported, unsigned* length, bool* evex) {
  // MAXPHYADDR bounds reserved-bit checks in the walk; 52 accepts every address the guest's
  // tables can hold when the CPU does not say.
  guest_memory::PagingState paging = guest_memory::read_paging_state(ctx.vmcs, 52);
  guest_memory::GuestLinearMemory mem(phys, paging, observer);
  decode::emulate::EmuContext emu;
  guest_memory::read_emu_context(ctx.vmcs, ctx.vcpu.regs, mem, emu);
  decode::Instruction insn;
  const bool apx = guest_rex2_enabled(ctx);  // REX2 decodes only with guest XCR0.APX=1 and CR4.OSXSAVE
  decode::emulate::Result r = decode::emulate::fetch_instruction(emu, apx, insn);
  if (length) *length = r.outcome == decode::emulate::Outcome::ok ? insn.length : 0;
  if (evex) *evex = r.outcome == decode::emulate::Outcome::ok && insn.encoding == decode::Encoding::evex;
  if (r.outcome == decode::emulate::Outcome::ok) r = decode::emulate::emulate(insn, emu);
  return finish_emulation(ctx, emu, r, unsupported);
}

ExitAction finish_emulation(ExitContext& ctx, const decode::emulate::EmuContext& emu, const decode::emulate::Result& r,
                            bool* unsupported) {
  *unsupported = false;
  switch (r.outcome) {
    case decode::emulate::Outcome::ok:
      // RIP and RFLAGS (RF cleared) come from the emulator; a completed instruction also ends
      // STI/MOV-SS blocking and, when it began with RFLAGS.TF=1, pends its single-step trap,
      // as an `advance` exit does (vmm/instruction_retire.hpp).
      if (!guest_memory::write_back_emu_context(ctx.vmcs, emu) ||
          (r.completed && !retire_instruction(ctx.vmcs, r.single_step, &ctx.vcpu.single_step)))
        return ExitAction::stop("emulation: VMWRITE failed");
      return ExitAction::resume();  // RIP already advanced by the emulator
    case decode::emulate::Outcome::fault:
      if (r.exception.vector == decode::emulate::vector::PF) {
        ctx.vcpu.cr2 = r.exception.cr2;  // VM entry does not load CR2 (SDM Vol 3C 27.3.2)
        ctx.vcpu.pending.set(pending::cr2);
      }
      return ExitAction::inject(guest_memory::to_event(r.exception));
    case decode::emulate::Outcome::retry:
      // A REP string instruction yielded after its budget: RIP stays, the guest re-executes
      // it and exits again for the rest (write_back keeps RCX/RSI/RDI progress).
      if (!guest_memory::write_back_emu_context(ctx.vmcs, emu)) return ExitAction::stop("emulation: VMWRITE failed");
      return ExitAction::resume();
    case decode::emulate::Outcome::unsupported:
    case decode::emulate::Outcome::bad_gpa:
      *unsupported = true;
      return ExitAction::resume();
  }
  *unsupported = true;
  return ExitAction::resume();
}

}  // namespace vmm
