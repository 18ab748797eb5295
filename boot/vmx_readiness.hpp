// Per-CPU VMX readiness (issue P1 "Platform inventory"): CPUID, IA32_FEATURE_CONTROL, the
// VMX capability MSRs, and a real VMXON/VMXOFF with the fixed CR0/CR4 bits applied.
// Run on every CPU: hybrid parts differ per core type (design.md pitfalls).
#pragma once
#include <stdint.h>

namespace boot {

struct VmxReadiness {
  bool cpuid_vmx = false;
  uint64_t feature_control_before = 0;
  uint64_t feature_control = 0;
  bool feature_control_set_by_us = false;
  uint64_t basic = 0, pinbased = 0, procbased = 0, procbased2 = 0, exit = 0, entry = 0;
  uint64_t ept_vpid = 0, misc = 0;
  uint64_t cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0;
  bool true_controls = false;
  bool vmxon_ok = false;
  const char* reason = nullptr;  // why VMX is not usable on this CPU (nullptr when it is)

  bool has_secondary() const { return (procbased >> 32) & (1u << 31); }
  bool has_ept() const { return has_secondary() && ((procbased2 >> 32) & (1u << 1)); }
  bool has_vpid() const { return has_secondary() && ((procbased2 >> 32) & (1u << 5)); }
  bool has_unrestricted_guest() const { return has_secondary() && ((procbased2 >> 32) & (1u << 7)); }
  bool has_wait_for_sipi() const { return misc & (1u << 8); }
};

// CPUID.(7,1):EDX[21]: the host enumerates APX, and with it the extended VM-exit
// instruction-information field (the capability report and the launch's check read it).
bool host_enumerates_apx();

// Fills *out for the calling CPU. `vmxon_region` is a zeroed, 4 KiB-aligned page
// (identity-mapped: its address is its physical address).
void probe_vmx_on_this_cpu(VmxReadiness* out, void* vmxon_region);

}  // namespace boot
