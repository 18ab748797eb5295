// Exit reasons 31/32, RDMSR/WRMSR: the msr_policy.def rule decides (pass / emulate / gp);
// pass-through is fault-safe, so a missing MSR gives the guest #GP(0). One row per case.
#include "handler_fixture.hpp"
#include "vmm/apic/apic_base_write.hpp"
#include "vmm/msr_policy.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("RDMSR exit") {
  constexpr uint64_t kGarbage = 0xa5a5a5a5a5a5a5a5ull;
  enum class Host { has, faults, absent };
  struct Row {
    const char* what;
    uint64_t rcx;
    Host host;
    uint64_t host_value;
    Outcome outcome;
    uint64_t rax, rdx;      // after (unchanged garbage on a fault)
    unsigned host_reads;    // how many RDMSRs reached the host
  };
  const Row rows[] = {
      {"pass: IA32_APIC_BASE", 0x1b, Host::has, 0xfee00900, Outcome::advance, 0xfee00900, 0, 1},
      {"pass: 64-bit value split into EDX:EAX, high halves clear", 0xc0000100, Host::has, 0x123456789abcdef0,
       Outcome::advance, 0x9abcdef0, 0x12345678, 1},
      {"pass: index is ECX, RCX high bits ignored", 0xffffffff0000001bull, Host::has, 0xfee00900, Outcome::advance,
       0xfee00900, 0, 1},
      {"pass: MSR the CPU lacks (host #GP) -> guest #GP", 0x1b, Host::faults, 0, Outcome::gp, kGarbage, kGarbage, 1},
      {"pass: outside both bitmap ranges, not present", 0xdeadbeef, Host::absent, 0, Outcome::gp, kGarbage, kGarbage,
       1},
      {"pass: outside both bitmap ranges, present", 0x40000100, Host::has, 0x77, Outcome::advance, 0x77, 0, 1},
      {"gp: Hyper-V's hypercall-page MSR, never executed (nested)", 0x40000001, Host::has, 0x77, Outcome::gp, kGarbage,
       kGarbage, 0},
      {"gp: KVM's kvmclock MSR, never executed (nested)", 0x4b564d01, Host::has, 0x77, Outcome::gp, kGarbage, kGarbage,
       0},
      {"gp: IA32_RTIT_CTL (Intel PT hidden)", 0x570, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"gp: IA32_DS_AREA (debug store hidden)", 0x600, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"gp: IA32_BIOS_UPDT_TRIG (write-only)", 0x79, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"emulate: FEATURE_CONTROL locked with VMX outside SMX -> VMX bits clear", 0x3a, Host::has, 0x5,
       Outcome::advance, 0x1, 0, 1},
      {"emulate: FEATURE_CONTROL keeps SENTER/SGX/LMCE bits", 0x3a, Host::has, 0x17ff07, Outcome::advance, 0x17ff01, 0,
       1},
      {"emulate: FEATURE_CONTROL unlocked on the host still reads locked", 0x3a, Host::has, 0x0, Outcome::advance, 0x1,
       0, 1},
      {"emulate: FEATURE_CONTROL host read faults -> just locked", 0x3a, Host::faults, 0, Outcome::advance, 0x1, 0, 1},
      {"gp: IA32_VMX_BASIC", 0x480, Host::has, 0xda0400000000ull, Outcome::gp, kGarbage, kGarbage, 0},
      {"gp: IA32_VMX_PROCBASED_CTLS2", 0x48b, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"gp: IA32_VMX_PROCBASED_CTLS3", 0x492, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"gp: IA32_VMX_EXIT_CTLS2 (last of the range)", 0x493, Host::has, 0x1, Outcome::gp, kGarbage, kGarbage, 0},
      {"pass: 0x494 (just past the VMX range)", 0x494, Host::has, 0x2, Outcome::advance, 0x2, 0, 1},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    const uint32_t msr = static_cast<uint32_t>(r.rcx);
    if (r.host == Host::has) f.host.set_msr(msr, r.host_value);
    if (r.host == Host::faults) f.host.set_msr_faulting(msr);
    f.gpr(arch::Gpr::rcx) = r.rcx;
    f.gpr(arch::Gpr::rax) = kGarbage;
    f.gpr(arch::Gpr::rdx) = kGarbage;
    CHECK(outcome_of(f.exit(ExitReason::rdmsr)) == r.outcome);
    CHECK(f.gpr(arch::Gpr::rax) == r.rax);
    CHECK(f.gpr(arch::Gpr::rdx) == r.rdx);
    CHECK(f.host.rdmsr_calls == r.host_reads);
    if (r.host_reads) CHECK(f.host.last_rdmsr == msr);
    CHECK(f.injected() == (r.outcome == Outcome::gp ? kInjectGp : 0));
    CHECK(f.advanced() == (r.outcome == Outcome::advance));
  }
}

TEST_CASE("WRMSR exit") {
  enum class Host { has, read_only, absent };
  struct Row {
    const char* what;
    uint64_t rcx, rdx, rax;
    Host host;
    Outcome outcome;
    unsigned host_writes;
    uint64_t written;  // the value the host saw
  };
  const Row rows[] = {
      {"pass: value is EDX:EAX, high halves ignored", 0x1b, 0xffffffff00000001ull, 0xffffffff0fee0900ull, Host::has,
       Outcome::advance, 1, 0x10fee0900ull},
      {"pass: index is ECX", 0xffffffff00000174ull, 0, 0x10, Host::has, Outcome::advance, 1, 0x10},
      {"pass: host #GP (read-only / bad value) -> guest #GP", 0x1b, 0, 0x1, Host::read_only, Outcome::gp, 1, 0x1},
      {"pass: nonexistent MSR outside the ranges", 0xdeadbeef, 0, 0, Host::absent, Outcome::gp, 1, 0},
      {"gp: IA32_FEATURE_CONTROL is locked", 0x3a, 0, 0x5, Host::has, Outcome::gp, 0, 0},
      {"gp: IA32_VMX_BASIC", 0x480, 0, 0, Host::has, Outcome::gp, 0, 0},
      {"gp: IA32_VMX_CR4_FIXED1", 0x489, 0, 0, Host::has, Outcome::gp, 0, 0},
      {"discard: IA32_BIOS_UPDT_TRIG, no microcode load, the guest goes on", 0x79, 0, 0x1000, Host::has,
       Outcome::advance, 0, 0},
      {"gp: IA32_RTIT_OUTPUT_BASE (Intel PT hidden)", 0x560, 0, 0x1000, Host::has, Outcome::gp, 0, 0},
      {"gp: IA32_PEBS_ENABLE (PEBS hidden)", 0x3f1, 0, 1, Host::has, Outcome::gp, 0, 0},
      {"gp: Hyper-V's hypercall page, never executed", 0x40000001, 0, 0x1001, Host::has, Outcome::gp, 0, 0},
      {"gp: KVM's system time, never executed", 0x4b564d01, 0, 0x1001, Host::has, Outcome::gp, 0, 0},
      {"emulate: IA32_XSS with the PT component -> #GP", 0xda0, 0, 0x100, Host::has, Outcome::gp, 0, 0},
      {"emulate: IA32_XSS with CET components reaches the hardware", 0xda0, 0, 0x1800, Host::has, Outcome::advance, 1,
       0x1800},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    const uint32_t msr = static_cast<uint32_t>(r.rcx);
    if (r.host != Host::absent) f.host.set_msr(msr, 0x5a, r.host == Host::read_only);
    f.gpr(arch::Gpr::rcx) = r.rcx;
    f.gpr(arch::Gpr::rdx) = r.rdx;
    f.gpr(arch::Gpr::rax) = r.rax;
    CHECK(outcome_of(f.exit(ExitReason::wrmsr)) == r.outcome);
    CHECK(f.host.wrmsr_calls == r.host_writes);
    if (r.host_writes) {
      CHECK(f.host.last_wrmsr == msr);
      CHECK(f.host.last_wrmsr_value == r.written);
    }
    if (r.host == Host::has) CHECK(f.host.msr(msr) == (r.host_writes ? r.written : 0x5a));
    CHECK(f.gpr(arch::Gpr::rdx) == r.rdx);  // WRMSR changes no register
    CHECK(f.injected() == (r.outcome == Outcome::gp ? kInjectGp : 0));
  }
}

// The MTRRs and IA32_MTRRCAP (virtual, emulate rows) are in virtual_mtrrs_test.cpp.

TEST_CASE("WRMSR IA32_APIC_BASE while APIC writes are trapped: the xAPIC page may not move") {
  struct Row {
    const char* what;
    uint64_t value;
    Outcome outcome;
  };
  const Row rows[] = {
      {"same base, x2APIC enabled (EXTD)", 0xfee00d00, Outcome::advance},
      {"same base, BSP flag and enable", 0xfee00900, Outcome::advance},
      {"same base, APIC disabled", 0xfee00000, Outcome::advance},
      {"moved to 0xfed00000", 0xfed00900, Outcome::gp},
      {"moved above 4 GiB", 0x1fee00900ull, Outcome::gp},
  };
  vmm::apic::set_trapped_apic_base(0xfee00000);
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.host.set_msr(0x1b, 0xfee00900);
    f.gpr(arch::Gpr::rcx) = 0x1b;
    f.gpr(arch::Gpr::rdx) = r.value >> 32;
    f.gpr(arch::Gpr::rax) = r.value & 0xffffffff;
    CHECK(outcome_of(f.exit(ExitReason::wrmsr)) == r.outcome);
    CHECK(f.host.wrmsr_calls == (r.outcome == Outcome::advance ? 1u : 0u));
    CHECK(f.host.msr(0x1b) == (r.outcome == Outcome::advance ? r.value : 0xfee00900));
    CHECK(f.injected() == (r.outcome == Outcome::gp ? kInjectGp : 0));
  }
  SECTION("nothing trapped: every write reaches the hardware") {
    vmm::apic::set_trapped_apic_base(0);
    HandlerFixture f;
    f.host.set_msr(0x1b, 0xfee00900);
    f.gpr(arch::Gpr::rcx) = 0x1b;
    f.gpr(arch::Gpr::rax) = 0xfed00900;
    CHECK(outcome_of(f.exit(ExitReason::wrmsr)) == Outcome::advance);
    CHECK(f.host.msr(0x1b) == 0xfed00900);
  }
  vmm::apic::set_trapped_apic_base(0);
}

// Exits 84/85 (RDMSR/WRMSRNS with an immediate index) and 80/81 (URDMSR/UWRMSR): the MSR
// index is the exit qualification, the register reg1 of the instruction information (legacy
// bits 6:3, extended bits 20:16), the value all 64 bits of it; the same policy as RDMSR/WRMSR.
TEST_CASE("MSR exits with the index in the instruction: the same policy, the register from the exit information") {
  constexpr uint64_t kGarbage = 0xa5a5a5a5a5a5a5a5ull;
  struct Row {
    const char* what;
    ExitReason reason;
    vmx::ExitInfoForm form;
    uint64_t qualification;
    uint64_t insn_info;
    unsigned gpr;
    bool write;
    Outcome outcome;
    uint64_t gpr_after;  // read forms: the register after; write forms: the value the host saw
  };
  const Row rows[] = {
      {"RDMSR imm, pass: all 64 bits into r9 (legacy reg1 = 9)", ExitReason::rdmsr_immediate,
       vmx::ExitInfoForm::legacy, 0xc0000100, 9u << 3, 9, false, Outcome::advance, 0x123456789abcdef0},
      {"RDMSR imm into r21 (extended reg1 = 21)", ExitReason::rdmsr_immediate, vmx::ExitInfoForm::extended,
       0xc0000100, 21ull << 16, 21, false, Outcome::advance, 0x123456789abcdef0},
      {"RDMSR imm of a VMX capability MSR: #GP, register unchanged", ExitReason::rdmsr_immediate,
       vmx::ExitInfoForm::legacy, 0x480, 2u << 3, 2, false, Outcome::gp, kGarbage},
      {"RDMSR imm: qualification bits 63:32 are not the index", ExitReason::rdmsr_immediate,
       vmx::ExitInfoForm::legacy, 0xffffffff00000570ull, 3u << 3, 3, false, Outcome::gp, kGarbage},
      {"URDMSR, pass: into r11", ExitReason::urdmsr, vmx::ExitInfoForm::legacy, 0xc0000100, 11u << 3, 11, false,
       Outcome::advance, 0x123456789abcdef0},
      {"WRMSRNS imm, pass: all 64 bits of r10", ExitReason::wrmsrns_immediate, vmx::ExitInfoForm::legacy, 0xc0000100,
       10u << 3, 10, true, Outcome::advance, 0xfedcba9876543210},
      {"WRMSRNS imm to Intel PT's RTIT_CTL: #GP, nothing written", ExitReason::wrmsrns_immediate,
       vmx::ExitInfoForm::legacy, 0x570, 10u << 3, 10, true, Outcome::gp, 0},
      {"UWRMSR from r30 (extended)", ExitReason::uwrmsr, vmx::ExitInfoForm::extended, 0xc0000100, 30ull << 16, 30,
       true, Outcome::advance, 0xfedcba9876543210},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.policy.exit_info_form = r.form;
    const uint32_t msr = static_cast<uint32_t>(r.qualification);
    f.host.set_msr(msr, 0x123456789abcdef0);
    f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    f.vmcs.set(r.form == vmx::ExitInfoForm::extended ? VmcsField::extended_instruction_info
                                                     : VmcsField::vm_exit_instruction_info,
               r.insn_info);
    f.vcpu.regs.gpr[r.gpr] = r.write ? 0xfedcba9876543210 : kGarbage;
    f.gpr(arch::Gpr::rax) = kGarbage;
    f.gpr(arch::Gpr::rdx) = kGarbage;
    CHECK(outcome_of(f.exit(r.reason)) == r.outcome);
    if (r.write) {
      CHECK(f.host.wrmsr_calls == (r.outcome == Outcome::advance ? 1u : 0u));
      if (r.outcome == Outcome::advance) CHECK(f.host.last_wrmsr_value == r.gpr_after);
    } else {
      CHECK(f.vcpu.regs.gpr[r.gpr] == r.gpr_after);
    }
    CHECK(f.gpr(arch::Gpr::rax) == kGarbage);  // EDX:EAX are not the operands here
    CHECK(f.gpr(arch::Gpr::rdx) == kGarbage);
  }
}

// Hypercall 9 (msr_verdict, issue P10): the last MSR exit as the handler answered it, the
// deciding msr_policy.def row, and the host's own access where one was made, so that a guest
// sees an answer that differs from the host's. One row per kind of answer.
TEST_CASE("MSR exits are recorded for hypercall 9: row, action, host access, guest answer") {
  using vmm::HostMsrAccess;
  using vmm::MsrAction;
  enum class Host { has, faults, absent };
  struct Row {
    const char* what;
    ExitReason reason;
    uint32_t msr;
    Host host;
    uint64_t value;  // the host's (read) or the guest's EDX:EAX (write)
    MsrAction action;
    HostMsrAccess access;
    uint8_t guest_vector;
    uint64_t host_value, guest_value;
  };
  const Row rows[] = {
      {"read passed through, host has it", ExitReason::rdmsr, 0xc0000100, Host::has, 0x123456789a, MsrAction::pass,
       HostMsrAccess::completed, 0, 0x123456789a, 0x123456789a},
      {"read passed through, host #GP: the guest's #GP", ExitReason::rdmsr, 0xdeadbeef, Host::absent, 0,
       MsrAction::pass, HostMsrAccess::faulted, 13, 0, 0},
      {"read refused by its row: the host never asked", ExitReason::rdmsr, 0x570, Host::has, 1, MsrAction::gp,
       HostMsrAccess::not_made, 13, 0, 0},
      {"read emulated: FEATURE_CONTROL", ExitReason::rdmsr, 0x3a, Host::has, 0x5, MsrAction::emulate,
       HostMsrAccess::not_made, 0, 0, 0x1},
      {"write passed through", ExitReason::wrmsr, 0xc0000100, Host::has, 0x55, MsrAction::pass,
       HostMsrAccess::completed, 0, 0x55, 0x55},
      {"write passed through, host #GP", ExitReason::wrmsr, 0xdeadbeef, Host::absent, 0x66, MsrAction::pass,
       HostMsrAccess::faulted, 13, 0, 0x66},
      {"write refused by its row (HFI)", ExitReason::wrmsr, 0x17d0, Host::has, 0x1000, MsrAction::gp,
       HostMsrAccess::not_made, 13, 0, 0x1000},
      {"write discarded (microcode)", ExitReason::wrmsr, 0x79, Host::has, 0x1000, MsrAction::discard,
       HostMsrAccess::not_made, 0, 0, 0x1000},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.vcpu.last_msr.exits = 7;
    if (r.host == Host::has) f.host.set_msr(r.msr, r.reason == ExitReason::rdmsr ? r.value : 0);
    f.gpr(arch::Gpr::rcx) = r.msr;
    f.gpr(arch::Gpr::rax) = r.reason == ExitReason::wrmsr ? (r.value & 0xffffffffu) : 0;
    f.gpr(arch::Gpr::rdx) = r.reason == ExitReason::wrmsr ? (r.value >> 32) : 0;
    f.exit(r.reason);
    const vmm::MsrVerdict v = vmm::reported_msr_verdict(f.vcpu.last_msr);
    CHECK(v.exits == 8);
    CHECK(v.msr == r.msr);
    CHECK(v.write == (r.reason == ExitReason::wrmsr));
    CHECK(v.row == vmm::msr_rule(r.msr).row);
    CHECK((v.row == 0) == (vmm::msr_rule(r.msr).why == nullptr));
    CHECK(v.action == r.action);
    CHECK(v.host == r.access);
    CHECK(v.guest_vector == r.guest_vector);
    CHECK(v.host_value == r.host_value);
    CHECK(v.guest_value == r.guest_value);
    // Through VMCALL: the same record, packed as vmm/hypercall.hpp says.
    f.gpr(arch::Gpr::rax) = 9;
    REQUIRE(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
    CHECK(f.gpr(arch::Gpr::rax) == 0);
    CHECK(f.gpr(arch::Gpr::rbx) == r.msr);
    const uint64_t info = f.gpr(arch::Gpr::rcx);
    CHECK((info & 0xff) == v.row);
    CHECK(((info >> 8) & 0xff) == static_cast<uint64_t>(r.action));
    CHECK(((info >> 16) & 1) == (r.reason == ExitReason::wrmsr));
    CHECK(((info >> 24) & 3) == static_cast<uint64_t>(r.access));
    CHECK((info >> 32) == r.guest_vector);
    CHECK(f.gpr(arch::Gpr::rdx) == r.host_value);
    CHECK(f.gpr(arch::Gpr::rsi) == r.guest_value);
    CHECK(f.gpr(arch::Gpr::rdi) == 8);
  }
}

TEST_CASE("msr_policy.def rows are numbered from 1 in table order; 0 is no row") {
  unsigned count = 0;
  const vmm::MsrRule* rules = vmm::msr_rules(&count);
  for (unsigned i = 0; i < count; ++i) {
    CAPTURE(i);
    // The first MSR of a row is decided by it unless an earlier row covers it too.
    bool earlier = false;
    for (unsigned j = 0; j < i; ++j) earlier |= rules[i].first >= rules[j].first && rules[i].first <= rules[j].last;
    if (!earlier) CHECK(vmm::msr_rule(rules[i].first).row == i + 1);
  }
  CHECK(vmm::msr_rule(0xdeadbeef).row == 0);
}
