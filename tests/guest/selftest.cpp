// The hypervisor checked from inside (issue P2 "selftest"): chain-loaded after apexvisor,
// it runs as the guest on the real VMX path and prints one PASS/FAIL line per check, then a
// tally. Every check states what real hardware would do and what the hypervisor must make
// the guest see instead.
#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  guest::probes_prepare();
  guest::Tally tally;
  guest::run_descriptor_table_checks(tally);  // first: see its comment
  guest::run_cpu_checks(tally);
  guest::run_cpuid_mirror_checks(tally);
  guest::run_xsetbv_checks(tally);
  guest::run_apx_checks(tally);
  guest::run_privileged_checks(tally);
  guest::run_single_step_checks(tally);
  guest::run_hypercall_checks(tally);
  guest::run_local_apic_checks(tally);
  guest::run_mtrr_checks(tally, st);
  guest::run_isolation_checks(tally, st);
  guest::run_high_mmio_checks(tally, st);
  guest::run_ap_checks(tally, st);
  guest::run_ap_restart_checks(tally, st);
  guest::say("selftest: tally pass=%u fail=%u", tally.pass, tally.fail);
  guest::end_run(tally.fail ? 1 : 0);
}
