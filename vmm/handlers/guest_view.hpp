// The guest's state as the guest itself sees it, for handlers that emulate an instruction:
// its CPL, whether it runs in 64-bit mode, and CR0/CR4 through the guest/host masks and
// read shadows; plus the other direction, the real CR0/CR4 that VMX needs for a value the
// guest asked for. One place for these rules so that MOV CR, XSETBV, VMCALL and the INIT-SIPI
// reset agree.
#pragma once
#include <stdint.h>

#include "arch/gpr.hpp"
#include "vmm/exit_context.hpp"

namespace vmm {

// The vCPU's register `r` (gpr[] is indexed by architectural number, design.md), for the
// fixed registers an instruction names implicitly (RAX, RCX, RDX, ...), never RSP.
inline uint64_t& reg(Vcpu& vcpu, arch::Gpr r) { return vcpu.regs.gpr[static_cast<unsigned>(r)]; }

// Register `n` (0..31, from an exit qualification or instruction information) as an
// instruction operand. RSP lives in the VMCS (design.md "The vCPU register file"): the exit
// path does not copy GUEST_RSP into gpr[4] (only the emulator fills that mirror, for itself),
// so n = 4 reads GUEST_RSP, and a write to it goes to GUEST_RSP (and the mirror).
uint64_t read_gpr(ExitContext& ctx, unsigned n);
[[nodiscard]] bool write_gpr(ExitContext& ctx, unsigned n, uint64_t value);

// CPL = SS.DPL (access-rights bits 6:5). SDM Vol 3C 25.4.1: the SS DPL field holds the CPL
// even when SS is unusable, and VM entry checks it that way (27.3.1.2).
uint8_t guest_cpl(vmx::VmcsAccess& vmcs);

// 64-bit mode = IA-32e mode and CS.L (access-rights bit 13). The "IA-32e mode guest" entry
// control mirrors IA32_EFER.LMA after every VM exit (SDM Vol 3C 28.2 "Recording VM-Exit
// Information and Updating VM-Entry Control Fields"). Outside 64-bit mode, register operands
// of MOV CR and the hypercall registers are 32 bits wide.
bool guest_in_64bit_mode(vmx::VmcsAccess& vmcs);

// What MOV from CR0/CR4 returns in the guest: bits owned by the host (set in the guest/host
// mask) come from the read shadow, the others from the real register (SDM Vol 3C 25.6.6,
// 26.3 "MOV from CR0/CR4").
uint64_t guest_visible_cr0(vmx::VmcsAccess& vmcs);
uint64_t guest_visible_cr4(vmx::VmcsAccess& vmcs);

// Whether the guest may use REX2 (and so R16-R31) right now: its XCR0 has APX and CR4.OSXSAVE
// is set, as the CPU requires for every XCR0-enabled feature (a guest that clears OSXSAVE
// keeps its XCR0 value but loses the features). KVM checks both the same way. Every place
// that decodes a guest instruction asks this (decode/decode.hpp's `apx` argument).
bool guest_rex2_enabled(ExitContext& ctx);

// The real CR0/CR4 for a value the guest asked for: the VMX-fixed bits forced (SDM Vol 3D
// A.7 / A.8; VM entry checks them, 27.3.1.1), CR0.PE/PG exempt under unrestricted guest,
// CR4.VMXE always set (VMX operation needs it; the shadow hides it).
uint64_t real_cr0_for(const GuestPolicy& policy, uint64_t guest_value);
uint64_t real_cr4_for(const GuestPolicy& policy, uint64_t guest_value);

}  // namespace vmm
