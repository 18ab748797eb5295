#pragma once
#include "boot/efi/efi.hpp"

namespace guest {

struct Tally {
  unsigned pass = 0, fail = 0, skipped = 0;
  // Set: every check prints "SKIP <name>: <skip_reason>" and counts as skipped, whatever its
  // outcome (checks that would test the CPU rather than apexvisor, e.g. the descriptor-table
  // checks with dt_guard=off, where the instructions run natively).
  const char* skip_reason = nullptr;
  // Prints "apexvisor-guest: PASS <name>" or "FAIL <name>: <detail>".
  void check(bool ok, const char* name, const char* detail_fmt = "", unsigned long long a = 0,
             unsigned long long b = 0);
};

void run_cpu_checks(Tally& t);         // CPUID: hypervisor leaves, VMX hidden, APX consistency
void run_cpuid_mirror_checks(Tally& t);
void run_isolation_checks(Tally& t, EFI_SYSTEM_TABLE* st);
// Writes variable MTRR pair n the way an OS does (SDM Vol 3A 12.11.7.2: caches and MTRRs off
// around the write); mtrr_checks.cpp.
void set_variable_mtrr(unsigned n, uint64_t base, uint64_t mask);  // the hypervisor's image is hidden  // OSXSAVE/OSPKE follow the guest's CR4
void run_xsetbv_checks(Tally& t);      // valid values accepted, invalid ones #GP
void run_privileged_checks(Tally& t);  // CR4.VMXE, VMXON, VMX MSRs
void run_hypercall_checks(Tally& t);   // version, exit counters
void run_single_step_checks(Tally& t);  // RFLAGS.TF across an emulated instruction
void run_ap_checks(Tally& t, EFI_SYSTEM_TABLE* st);  // code on every AP after virtualization
// The guest starts an AP itself with INIT-SIPI-SIPI and its own real-mode code, twice
// (ap_restart_checks.cpp). Run it after run_ap_checks: it ends by handing the AP back to MP services.
void run_ap_restart_checks(Tally& t, EFI_SYSTEM_TABLE* st);
// The xAPIC page as the guest sees it: LVT read-back, APIC id, TPR/PPR/CR8 (apic_checks.cpp).
// Run it before run_ap_restart_checks, which leaves the BSP's APIC in x2APIC mode.
void run_local_apic_checks(Tally& t);
// A variable MTRR set and removed the way an OS does it (mtrr_checks.cpp); apexvisor re-types the EPT.
void run_mtrr_checks(Tally& t, EFI_SYSTEM_TABLE* st);
// SGDT/SIDT/SLDT/STR/LGDT/LIDT/LLDT/LTR in several addressing forms, their faults, checked
// where the descriptor-table guard (dt_guard=on, hypercall guest_policy) emulates them. With
// dt_guard=off they run natively: the same instructions run, their checks print SKIP lines,
// and the exit counters must show that none of them exited. Run it first: its opening
// executes each instruction once before printing anything (see selftest_checks.cpp).
void run_descriptor_table_checks(Tally& t);
// A read far above RAM, within MAXPHYADDR (high_mmio_checks.cpp): all ones, the guest goes on.
void run_high_mmio_checks(Tally& t, EFI_SYSTEM_TABLE* st);
// R16-R31 survive VM exits (CPUID, VMCALL) when the CPU has APX; otherwise one SKIP line.
void run_apx_checks(Tally& t);

}  // namespace guest
