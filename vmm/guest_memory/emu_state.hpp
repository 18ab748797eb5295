// The glue between a VM exit and the emulator: what the page walker and emulate() need, read
// from the current VMCS guest area, and the results written back. For the EPT write monitor
// and the descriptor-table handlers:
//
//   GuestRam ram;                                       // a GuestPhysMemory over guest RAM
//   PagingState paging = read_paging_state(ctx.vmcs, maxphyaddr);
//   GuestLinearMemory mem(ram, paging, &monitor);       // monitor: a WriteObserver
//   decode::emulate::EmuContext emu;
//   read_emu_context(ctx.vmcs, ctx.vcpu.regs, mem, emu);
//   decode::Instruction insn;
//   Result r = fetch_instruction(emu, apx_enabled, insn);
//   if (r.outcome == Outcome::ok) r = emulate(insn, emu);
//   if (r.outcome == Outcome::ok) write_back_emu_context(ctx.vmcs, emu);   // RIP RFLAGS RSP
//   else if (r.outcome == Outcome::fault) inject(to_event(r.exception)) (+ CR2 for #PF);
#pragma once
#include <stdint.h>

#include "decode/emulate/emu_context.hpp"
#include "decode/emulate/emulate.hpp"
#include "vmm/exit_action.hpp"
#include "vmm/guest_memory/paging.hpp"
#include "vmx/gpr_file.hpp"
#include "vmx/vmcs_access.hpp"

namespace vmm::guest_memory {

// CR0, CR3, CR4 (the real guest values: paging uses them, not the read shadows), IA32_EFER
// (LMA from the "IA-32e mode guest" entry control, which mirrors it after every exit, SDM Vol
// 3C 28.2), CPL (SS.DPL, 25.4.1), RFLAGS.AC, IA32_PKRS, and the PAE PDPTEs (GUEST_PDPTE0-3,
// which VM exits save when EPT is on, 28.3.4). PKRU is not in the VMCS: pkru stays 0 (the
// caller may set it when it has the guest's value).
PagingState read_paging_state(vmx::VmcsAccess& vmcs, uint8_t maxphyaddr);

// RIP, RFLAGS, the code size (CS.L / CS.D, 64-bit only with IA-32e mode), real/virtual-8086
// mode, CPL, CR0.AM, CR4.LA57 and the six segment registers; ctx.gpr = regs.gpr, and
// GUEST_RSP copied into regs.gpr[4] (design.md: RSP lives in the VMCS).
void read_emu_context(vmx::VmcsAccess& vmcs, vmx::GprFile& regs, decode::emulate::LinearMemory& mem,
                      decode::emulate::EmuContext& ctx);

// The part of read_emu_context() that fetching and completing the instruction at CS:RIP
// needs: all of it except the five data segments (ES SS DS FS GS keep what ctx held). For
// callers that carry out an instruction whose memory access the hardware already checked
// (the MOV-store fast path, vmm/handlers/store32_at_rip.hpp): 15 VMREADs fewer.
void read_code_context(vmx::VmcsAccess& vmcs, vmx::GprFile& regs, decode::emulate::LinearMemory& mem,
                       decode::emulate::EmuContext& ctx);

// After Outcome::ok: GUEST_RIP, GUEST_RFLAGS and GUEST_RSP (= gpr[4]) from ctx. False if a
// VMWRITE failed.
[[nodiscard]] bool write_back_emu_context(vmx::VmcsAccess& vmcs, const decode::emulate::EmuContext& ctx);

// The emulator's exception as the event to inject (hardware exception). For #PF the caller
// must also load the guest's CR2 with exception.cr2 before VM entry: CR2 is not part of the
// VMCS guest state and VM entry does not load it (SDM Vol 3C 27.3.2).
Event to_event(const decode::emulate::Exception& e);

}  // namespace vmm::guest_memory
