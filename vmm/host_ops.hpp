// The hypervisor's own hardware actions that exit handlers need, behind a seam so the
// handlers run unchanged in the host unit tests (design.md "Hardware access goes through
// small seams"). The image implements it with real instructions (HardwareHostOps,
// vmm/launch/exit_entry.cpp).
#pragma once
#include <stdint.h>

#include "arch/cpu.hpp"
#include "vmx/gpr_file.hpp"

namespace vmm {

class HostOps {
 public:
  // MSR access that survives a #GP: returns false when the CPU faulted (the guest then gets
  // the same #GP instead of the host crashing).
  [[nodiscard]] virtual bool rdmsr_safe(uint32_t msr, uint64_t* value) = 0;
  [[nodiscard]] virtual bool wrmsr_safe(uint32_t msr, uint64_t value) = 0;
  virtual arch::CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) = 0;
  // CPUID on the guest's behalf, straight into its register file: leaf from EAX, subleaf
  // from ECX, the results zero-extended into RAX, RBX, RCX and RDX, as CPUID does in 64-bit
  // mode (SDM Vol 2A, CPUID). The CPUID exit handler's common case (a leaf the guest policy
  // leaves alone): the image overrides it with the instruction writing the four registers
  // directly, which saves packing them into CpuidRegs and unpacking them again on every
  // such exit. The default (host_ops.cpp, over cpuid(); what the fakes use) is what the
  // override must equal. Out of line so that the compiler does not guess it at the call
  // site (speculative devirtualization adds a compare and a branch to every call).
  virtual void cpuid_into(vmx::GprFile& regs);
  // The host's IA32_FEATURE_CONTROL, 0 where the read faults: what the guest's emulated read
  // of it is made from (vmm/handlers/rdmsr_exit.hpp). The image overrides it with RDMSR
  // inline, without the fault-safe call: the MSR exists wherever VMXON succeeded (SDM Vol 3C
  // 24.7), so there it cannot fault. The default (host_ops.cpp, over rdmsr_safe; what the
  // fakes use) is what the override must equal.
  virtual uint64_t feature_control();
  // Loads XCR0 in hardware (the value was validated by the caller).
  [[nodiscard]] virtual bool xsetbv_safe(uint32_t index, uint64_t value) = 0;
  virtual void invd_as_wbinvd() = 0;  // INVD would discard dirty lines of the host: write back
  virtual uint64_t host_supported_xcr0() = 0;  // CPUID.(0xD,0) EDX:EAX
  // Drops this CPU's cached linear translations tagged with `vpid` (INVVPID), for guest events
  // that flush the TLB on hardware but happen by VMWRITE here (INIT + SIPI, SDM Vol 3A 4.10.4).
  virtual void flush_guest_tlb(uint16_t vpid) = 0;
  // A VM exit caused by an NMI leaves NMIs blocked in VMX root until the next IRET (SDM Vol
  // 3C 28.x, "NMI blocking after VM exit"; KVM unblocks them the same way): without it the
  // next wake-up NMI from another CPU (init_sipi=intercept) would wait forever. The image
  // IRETs to itself (exit_entry.cpp); nothing to do in the tests.
  virtual void unblock_nmis() {}

 protected:
  ~HostOps() = default;
};

}  // namespace vmm
