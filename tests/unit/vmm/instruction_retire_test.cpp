// The end of an instruction the hypervisor carried out (vmm/instruction_retire.hpp): the
// `advance` action (skip_instruction, through apply_exit_action as the exit path runs it) and
// an emulated instruction (finish_emulation). SDM Vol 3C 25.4.2 Table 25-3 (blocking by STI /
// MOV SS ends with the next instruction), Vol 3A 17.3.1.1 (RF clears on completion), 17.3.1.4
// (TF: single-step trap after the instruction; with IA32_DEBUGCTL.BTF only on branches),
// Vol 3C 27.7.3 (BS in the pending debug exceptions field is delivered as #DB after entry).
// One row per guest state at the exit.
#include "handler_fixture.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/instruction_retire.hpp"

using namespace vmm_test;

namespace {

constexpr uint64_t kSti = vmx::interruptibility::blocking_by_sti;
constexpr uint64_t kMovSs = vmx::interruptibility::blocking_by_mov_ss;
constexpr uint64_t kNmi = vmx::interruptibility::blocking_by_nmi;
constexpr uint64_t kBs = vmx::pending_debug::bs;
constexpr uint64_t kB0 = 1;  // a data breakpoint already pending (B0)
constexpr uint64_t kTf = arch::rflags::TF, kRf = arch::rflags::RF, kIf = arch::rflags::IF;
constexpr uint64_t kBtf = arch::debugctl::BTF;

struct Row {
  const char* what;
  uint64_t rflags, intr, debugctl, pending;                   // at the exit
  uint64_t rflags_after, intr_after, pending_after;           // expected
  bool rflags_written, intr_written, pending_written;         // VMWRITEs expected
};

// Every state the exit can leave: the common case writes nothing but RIP.
const Row kRows[] = {
    {"nothing to do: only RIP moves", kIf, 0, 0, 0, kIf, 0, 0, false, false, false},
    {"blocking by STI ends", kIf, kSti, 0, 0, kIf, 0, 0, false, true, false},
    {"blocking by MOV SS ends", 0, kMovSs, 0, 0, 0, 0, 0, false, true, false},
    {"blocking by NMI stays (it ends with IRET, not here)", kIf, kNmi | kSti, 0, 0, kIf, kNmi, 0, false, true, false},
    {"RF clears", kIf | kRf, 0, 0, 0, kIf, 0, 0, true, false, false},
    {"TF: the single-step trap is pended (BS)", kIf | kTf, 0, 0, 0, kIf | kTf, 0, kBs, false, false, true},
    {"TF with a breakpoint already pending: BS added, B0 kept", kTf, 0, 0, kB0, kTf, 0, kB0 | kBs, false, false, true},
    {"TF with DEBUGCTL.BTF: steps on branches only, nothing pended", kTf, 0, kBtf, 0, kTf, 0, 0, false, false, false},
    {"TF, RF and MOV-SS blocking together", kTf | kRf, kMovSs, 0, 0, kTf, 0, kBs, true, true, true},
    {"TF after STI (the consistency check of SDM 27.3.1.5 then holds)", kIf | kTf, kSti, 0, 0, kIf | kTf, 0, kBs, false,
     true, true},
};

void set_exit_state(HandlerFixture& f, const Row& r) {
  f.vmcs.set(VmcsField::guest_rflags, r.rflags | arch::rflags::FIXED1);
  f.vmcs.set(VmcsField::guest_interruptibility_state, r.intr);
  f.vmcs.set(VmcsField::guest_ia32_debugctl, r.debugctl);
  f.vmcs.set(VmcsField::guest_pending_debug_exceptions, r.pending);
}

void check_retired(const HandlerFixture& f, const Row& r) {
  CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) == r.intr_after);
  CHECK(f.vmcs.get(VmcsField::guest_pending_debug_exceptions) == r.pending_after);
  CHECK(f.vmcs.written(VmcsField::guest_interruptibility_state) == r.intr_written);
  CHECK(f.vmcs.written(VmcsField::guest_pending_debug_exceptions) == r.pending_written);
  CHECK(f.injected() == 0);  // the trap is pended, never injected
}

}  // namespace

TEST_CASE("advance: RIP past the instruction, RF cleared, STI/MOV-SS blocking ended, TF pends #DB") {
  for (const Row& r : kRows) {
    CAPTURE(r.what);
    HandlerFixture f;  // RIP 0x1000, instruction length 3
    set_exit_state(f, r);
    REQUIRE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::advance()));
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1003);
    CHECK(f.vmcs.get(VmcsField::guest_rflags) == (r.rflags_after | arch::rflags::FIXED1));
    CHECK(f.vmcs.written(VmcsField::guest_rflags) == r.rflags_written);
    check_retired(f, r);
  }
}

// Hypercall 10 (single_step, issue P10) reports each trap pended: the count, the exit's
// reason, the RIP after the instruction and the pending debug exceptions read back. A row
// that pends nothing leaves the record alone.
TEST_CASE("advance: a pended single-step trap is recorded for hypercall 10") {
  for (const Row& r : kRows) {
    CAPTURE(r.what);
    HandlerFixture f;
    set_exit_state(f, r);
    f.vmcs.set(VmcsField::exit_reason, 10);  // CPUID
    f.vcpu.single_step = {4, 0x77, 0x99, 0x88, 3};
    REQUIRE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::advance()));
    const bool pended = (r.pending_after & kBs) != 0;
    CHECK(f.vcpu.single_step.pended == (pended ? 5u : 4u));
    CHECK(f.vcpu.single_step.rip == (pended ? 0x1003u : 0x77u));
    CHECK(f.vcpu.single_step.pending_debug == (pended ? r.pending_after : 0x99u));
    CHECK(f.vcpu.single_step.pending_at_exit == (pended ? r.pending : 0x88u));
    CHECK(f.vcpu.single_step.exit_reason == (pended ? 10u : 3u));
  }
  // Through VMCALL: hypercall 10 hands the record over.
  HandlerFixture f;
  f.vcpu.single_step = {2, 0x4000, kBs, kB0, 10};
  f.gpr(arch::Gpr::rax) = 10;
  REQUIRE(outcome_of(f.exit(vmx::ExitReason::vmcall)) == Outcome::advance);
  CHECK(f.gpr(arch::Gpr::rax) == 0);
  CHECK(f.gpr(arch::Gpr::rbx) == 2);
  CHECK(f.gpr(arch::Gpr::rcx) == 10);
  CHECK(f.gpr(arch::Gpr::rdx) == 0x4000);
  CHECK(f.gpr(arch::Gpr::rsi) == kBs);
  CHECK(f.gpr(arch::Gpr::rdi) == kB0);
}

TEST_CASE("advance: the common case costs five VMCS accesses") {
  HandlerFixture f;
  set_exit_state(f, kRows[0]);
  const unsigned reads = f.vmcs.reads(), writes = f.vmcs.writes();
  REQUIRE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::advance()));
  CHECK(f.vmcs.reads() - reads == 4);    // RIP, instruction length, RFLAGS, interruptibility
  CHECK(f.vmcs.writes() - writes == 1);  // RIP
}

TEST_CASE("advance: a failed VMWRITE stops the guest CPU") {
  for (VmcsField field : {VmcsField::guest_rip, VmcsField::guest_rflags, VmcsField::guest_interruptibility_state,
                          VmcsField::guest_pending_debug_exceptions}) {
    CAPTURE(vmx::vmcs_field_name(field));
    HandlerFixture f;
    set_exit_state(f, kRows[8]);  // writes RFLAGS, the interruptibility state and the pending debug exceptions
    f.vmcs.fail_writes(field);
    CHECK_FALSE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::advance()));
  }
}

TEST_CASE("emulated instruction: finish_emulation retires it like an advance") {
  for (const Row& r : kRows) {
    CAPTURE(r.what);
    HandlerFixture f;
    set_exit_state(f, r);
    decode::emulate::EmuContext emu;
    emu.gpr = f.vcpu.regs.gpr;
    emu.rip = 0x1004;                                                   // the emulator advanced it
    emu.rflags = (r.rflags & ~arch::rflags::RF) | arch::rflags::FIXED1;  // and cleared RF
    decode::emulate::Result res;
    res.outcome = decode::emulate::Outcome::ok;
    res.completed = true;
    res.single_step = (r.rflags & kTf) != 0;
    bool unsupported = true;
    const vmm::ExitAction a = vmm::finish_emulation(f.ctx, emu, res, &unsupported);
    CHECK_FALSE(unsupported);
    REQUIRE(a.kind == vmm::ExitAction::Kind::resume);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1004);
    CHECK(f.vmcs.get(VmcsField::guest_rflags) == (r.rflags_after | arch::rflags::FIXED1));
    check_retired(f, r);
  }
}

TEST_CASE("emulated instruction: a REP string op that yielded has not retired") {
  HandlerFixture f;
  set_exit_state(f, kRows[9]);  // TF after STI
  decode::emulate::EmuContext emu;
  emu.gpr = f.vcpu.regs.gpr;
  emu.rip = 0x1000;  // stays on the instruction
  emu.rflags = kIf | kTf | arch::rflags::FIXED1;
  decode::emulate::Result res;
  res.outcome = decode::emulate::Outcome::ok;
  res.completed = false;
  bool unsupported = true;
  CHECK(vmm::finish_emulation(f.ctx, emu, res, &unsupported).kind == vmm::ExitAction::Kind::resume);
  CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) == kSti);
  CHECK(f.vmcs.get(VmcsField::guest_pending_debug_exceptions) == 0);
}
