// The guest's state as the guest itself sees it, for handlers that emulate an instruction:
// its CPL, whether it runs in 64-bit mode, and CR0/CR4 through the guest/host masks and
// read shadows; plus the other direction, the real CR0/CR4 that VMX needs for a value the
// guest asked for. One place for these rules so that MOV CR, XSETBV, VMCALL and the INIT-SIPI
// reset agree.
#pragma once
#include <stdint.h>

#include "arch/cr_bits.hpp"
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

// CR0.CD and CR0.NW, the cache-control bits apexvisor owns whatever VMX fixes. VM entry never
// loads them into the real CR0, and VM exit never changes them either (SDM Vol 3C 27.3.2.1
// "Loading Guest Control Registers": "the values of these bits in the CR0 field are
// ignored"; 28.5.1 for the host side): the processor keeps the values it had at VMXON, the
// firmware's (0: caches on). A guest that reads them unowned would see the processor's
// values, not its own: CR0 = 00000010H after INIT instead of 60000010H (Table 10-1), and a
// guest's own MOV to CR0 with CD=1 would change the cache mode of the host too, which then
// runs every later VM exit uncached. So the guest/host mask owns them: the guest reads its
// value from the read shadow and every change of either bit exits (vmm/handlers/cr_access).
// The real CR0 keeps CD=NW=0 (the VMCS field is written with them clear, KVM's "always off"
// bits): with EPT, the memory type of every guest access comes from the EPT entry, whose
// type apexvisor derives from the guest's virtual MTRRs (vmm/ept/), so a guest that sets CD
// (Linux's MTRR update: CD=1, WBINVD, MTRR writes, CD=0) gets the MTRRs it asked for and
// keeps running cached in between, which memory-coherent hardware cannot tell apart except
// by speed. NW=1 with CD=0 stays #GP(0), as the instruction defines it.
inline constexpr uint64_t kCr0CacheControl = arch::cr0::CD | arch::cr0::NW;

// The CR0 guest/host mask: the bits VMX fixes (IA32_VMX_CR0_FIXED0 ones and FIXED1 zeros,
// SDM Vol 3D A.7) except PE/PG under unrestricted guest, plus CD and NW (above). Bits 63:32
// are not owned: a MOV to CR0 with any of them set #GPs before it could load them.
uint64_t cr0_guest_host_mask(const GuestPolicy& policy);

// The real CR0/CR4 for a value the guest asked for: the VMX-fixed bits forced (SDM Vol 3D
// A.7 / A.8; VM entry checks them, 27.3.1.1), CR0.PE/PG exempt under unrestricted guest,
// CR0.CD/NW clear (kCr0CacheControl), CR4.VMXE always set (VMX operation needs it; the
// shadow hides it).
uint64_t real_cr0_for(const GuestPolicy& policy, uint64_t guest_value);
uint64_t real_cr4_for(const GuestPolicy& policy, uint64_t guest_value);

// The CR0 fields at launch, from the CR0 the firmware runs with: the guest's view (read
// shadow) is the firmware's CR0 as it stands, CD and NW included, and the real one is
// real_cr0_for it.
struct LaunchCr0 {
  uint64_t mask, shadow, real;
};
LaunchCr0 launch_cr0(const GuestPolicy& policy, uint64_t firmware_cr0);

}  // namespace vmm
