// Event injection by the SDM's rules (vmm/event_injection.hpp): the error-code bit follows
// the vector and CR0.PE, RF is set for fault-class exceptions, software events carry the
// instruction length. Table-driven over SDM Vol 3A Table 6-1, then through the dispatcher
// (apply_exit_action) in every guest mode, including a real-mode #GP, which used to fail VM
// entry (VM-instruction error 7) and stop the CPU.
#include "handler_fixture.hpp"
#include "vmm/event_injection.hpp"

using namespace vmm_test;
using vmm::EventType;

namespace {

// SDM Vol 3A Table 6-1: vector, pushes an error code (protected mode), class.
enum class Class { fault, trap, abort, interrupt, fault_or_trap };
struct VectorRow {
  uint8_t vector;
  bool error_code;
  Class cls;
};
constexpr VectorRow kSdmTable[] = {
    {0, false, Class::fault},    // #DE
    {1, false, Class::fault_or_trap},  // #DB (injected as the trap)
    {2, false, Class::interrupt},  // NMI
    {3, false, Class::trap},     // #BP
    {4, false, Class::trap},     // #OF
    {5, false, Class::fault},    // #BR
    {6, false, Class::fault},    // #UD
    {7, false, Class::fault},    // #NM
    {8, true, Class::abort},     // #DF (error code 0)
    {10, true, Class::fault},    // #TS
    {11, true, Class::fault},    // #NP
    {12, true, Class::fault},    // #SS
    {13, true, Class::fault},    // #GP
    {14, true, Class::fault},    // #PF
    {16, false, Class::fault},   // #MF
    {17, true, Class::fault},    // #AC
    {18, false, Class::abort},   // #MC
    {19, false, Class::fault},   // #XM
    {20, false, Class::fault},   // #VE
    {21, true, Class::fault},    // #CP
};

}  // namespace

TEST_CASE("injection plan: error code only where the vector pushes one and CR0.PE=1") {
  for (const VectorRow& r : kSdmTable) {
    for (uint64_t cr0 : {uint64_t{0x60000010}, uint64_t{0x80050033}}) {
      const bool pe = cr0 & arch::cr0::PE;
      CAPTURE(unsigned(r.vector), pe);
      const vmm::Injection in = vmm::plan_injection({r.vector, EventType::hardware_exception, true, 0x18}, cr0);
      CHECK(in.deliver_error_code == (r.error_code && pe));
      CHECK(bool(in.interruption_info & (1u << 11)) == (r.error_code && pe));
      CHECK(in.error_code == (r.error_code && pe ? 0x18u : 0u));
      CHECK((in.interruption_info & 0xff) == r.vector);
      CHECK(((in.interruption_info >> 8) & 7) == 3);
      CHECK(in.interruption_info >> 31 == 1);
      CHECK(in.set_rf == (r.cls == Class::fault));
      CHECK_FALSE(in.instruction_length);
    }
  }
}

TEST_CASE("injection plan: a handler's error-code wish never overrides the SDM") {
  // #UD asked for with an error code: none is delivered, in any mode.
  const vmm::Injection ud = vmm::plan_injection({6, EventType::hardware_exception, true, 5}, 0x80050033);
  CHECK_FALSE(ud.deliver_error_code);
  CHECK(ud.interruption_info == 0x80000306u);
  // #GP asked for without one in protected mode still pushes one (0), as hardware does.
  const vmm::Injection gp = vmm::plan_injection({13, EventType::hardware_exception, false, 0}, 0x80050033);
  CHECK(gp.deliver_error_code);
  CHECK(gp.interruption_info == 0x80000b0du);
}

TEST_CASE("injection plan: NMIs, external interrupts and software events") {
  const vmm::Injection nmi = vmm::plan_injection({2, EventType::nmi, false, 0}, 0x80050033);
  CHECK(nmi.interruption_info == 0x80000202u);
  CHECK_FALSE(nmi.set_rf);
  CHECK_FALSE(nmi.deliver_error_code);
  // a vector that pushes an error code as an exception does not as an interrupt
  const vmm::Injection ext = vmm::plan_injection({13, EventType::external_interrupt, true, 1}, 0x80050033);
  CHECK_FALSE(ext.deliver_error_code);
  CHECK_FALSE(ext.set_rf);
  for (EventType t : {EventType::software_interrupt, EventType::software_exception,
                      EventType::privileged_software_exception}) {
    const vmm::Injection sw = vmm::plan_injection({3, t, false, 0}, 0x80050033);
    CHECK(sw.instruction_length);
    CHECK_FALSE(sw.set_rf);
    CHECK_FALSE(sw.deliver_error_code);
  }
}

TEST_CASE("inject through the dispatcher: #GP(0) in every guest mode") {
  struct Row {
    Mode mode;
    bool error_code;
  };
  const Row rows[] = {{Mode::long64, true}, {Mode::compat32, true}, {Mode::prot32_paged, true},
                      {Mode::prot32_unpaged, true}, {Mode::real, false}};
  for (const Row& r : rows) {
    CAPTURE(int(r.mode));
    HandlerFixture f;
    f.set_mode(r.mode);
    f.vmcs.set(VmcsField::vm_entry_exception_error_code, 0xdead);
    REQUIRE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::gp0()));
    CHECK(f.injected() == (r.error_code ? 0x80000b0du : 0x8000030du));
    CHECK(f.vmcs.get(VmcsField::vm_entry_exception_error_code) == (r.error_code ? 0u : 0xdeadu));
    CHECK((f.vmcs.get(VmcsField::guest_rflags) & arch::rflags::RF) != 0);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);  // a fault: RIP stays at the instruction
  }
}

TEST_CASE("inject through the dispatcher: traps keep RFLAGS.RF clear, soft events get the length") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::vm_exit_instruction_length, 1);
  REQUIRE(vmm::apply_exit_action(f.ctx, vmm::ExitAction::inject({3, EventType::software_exception, false, 0})));
  CHECK(f.injected() == 0x80000603u);
  CHECK(f.vmcs.get(VmcsField::vm_entry_instruction_length) == 1);
  CHECK((f.vmcs.get(VmcsField::guest_rflags) & arch::rflags::RF) == 0);
  HandlerFixture g;
  REQUIRE(vmm::apply_exit_action(g.ctx, vmm::ExitAction::inject({1, EventType::hardware_exception, false, 0})));
  CHECK((g.vmcs.get(VmcsField::guest_rflags) & arch::rflags::RF) == 0);
}

// ---- re-injection of an event whose delivery caused the exit (SDM Vol 3C 28.2.4) ----------

namespace {
namespace intr = vmx::interruptibility;
constexpr uint64_t kStiMovSs = intr::blocking_by_sti | intr::blocking_by_mov_ss;

// One row per kind of event the IDT-vectoring information can describe.
struct ReinjectRow {
  const char* what;
  uint32_t idt_info;       // IDT-vectoring information as the CPU reports it
  uint32_t idt_error;      // IDT-vectoring error code
  bool valid;              // re-injected at all
  uint32_t entry_info;     // VM-entry interruption information
  bool error_code;         // the VM-entry error code is written (with idt_error)
  bool length;             // the instruction length is copied
  uint64_t clear;          // interruptibility bits cleared
};
constexpr ReinjectRow kReinject[] = {
    {"nothing was being delivered", 0x00000030, 0, false, 0, false, false, 0},
    {"external interrupt 0x30", 0x80000030, 0, true, 0x80000030, false, false, kStiMovSs},
    {"external interrupt 0xef (APIC timer)", 0x800000ef, 0, true, 0x800000ef, false, false, kStiMovSs},
    {"NMI: blocking by NMI cleared too", 0x80000202, 0, true, 0x80000202, false, false,
     intr::blocking_by_nmi | kStiMovSs},
    {"#PF with its error code", 0x80000b0e, 0x6, true, 0x80000b0e, true, false, 0},
    {"#GP(0x18)", 0x80000b0d, 0x18, true, 0x80000b0d, true, false, 0},
    {"#DF(0)", 0x80000b08, 0, true, 0x80000b08, true, false, 0},
    {"#UD: no error code", 0x80000306, 0, true, 0x80000306, false, false, 0},
    {"#GP without error code (real mode)", 0x8000030d, 0, true, 0x8000030d, false, false, 0},
    {"bit 12 (undefined here) cleared", 0x80001030, 0, true, 0x80000030, false, false, kStiMovSs},
    {"reserved bits 30:13 cleared", 0xfffe0b0e, 0x2, true, 0x80000b0e, true, false, 0},
    {"INT 0x80 (software interrupt)", 0x80000480, 0, true, 0x80000480, false, true, 0},
    {"INT1 (privileged software exception)", 0x80000501, 0, true, 0x80000501, false, true, 0},
    {"INT3 (software exception)", 0x80000603, 0, true, 0x80000603, false, true, 0},
    {"INTO (software exception)", 0x80000604, 0, true, 0x80000604, false, true, 0},
    {"type 1 (reserved): nothing", 0x80000130, 0, false, 0, false, false, 0},
    {"type 7 (other event): nothing", 0x80000700, 0, false, 0, false, false, 0},
};
}  // namespace

TEST_CASE("re-injection plan: every kind of interrupted event comes back as it was") {
  for (const ReinjectRow& r : kReinject) {
    CAPTURE(r.what);
    const vmm::Reinjection p = vmm::plan_reinjection(r.idt_info, r.idt_error);
    CHECK(p.valid == r.valid);
    if (!r.valid) continue;
    CHECK(p.interruption_info == r.entry_info);
    CHECK(p.deliver_error_code == r.error_code);
    CHECK(p.error_code == (r.error_code ? r.idt_error : 0u));
    CHECK(p.instruction_length == r.length);
    CHECK(p.clear_interruptibility == r.clear);
  }
}

TEST_CASE("re-injection: the reasons that can interrupt a delivery (SDM 28.2.4), and no other") {
  using R = vmx::ExitReason;
  for (unsigned reason = 0; reason < vmx::kExitReasonLimit; ++reason) {
    CAPTURE(reason);
    const bool expected = reason == unsigned(R::exception_or_nmi) || reason == unsigned(R::task_switch) ||
                          reason == unsigned(R::apic_access) || reason == unsigned(R::ept_violation) ||
                          reason == unsigned(R::ept_misconfiguration) ||
                          reason == unsigned(R::page_modification_log_full) ||
                          reason == unsigned(R::spp_related_event);
    CHECK(vmm::exit_may_interrupt_delivery(static_cast<uint16_t>(reason)) == expected);
  }
}

TEST_CASE("re-injection through the dispatcher: before the handler, every field as the SDM says") {
  for (const ReinjectRow& r : kReinject) {
    CAPTURE(r.what);
    HandlerFixture f;
    // An EPT violation on a write to an ordinary, unwatched page: the handler stops the CPU
    // (nothing to make possible there), but the event is programmed first.
    f.vmcs.set(VmcsField::exit_qualification, 1u << 1);
    f.vmcs.set(VmcsField::guest_physical_address, 0x5000);
    f.vmcs.set(VmcsField::idt_vectoring_info, r.idt_info);
    f.vmcs.set(VmcsField::idt_vectoring_error_code, r.idt_error);
    f.vmcs.set(VmcsField::vm_exit_instruction_length, 2);
    f.vmcs.set(VmcsField::guest_interruptibility_state, intr::blocking_by_nmi | kStiMovSs);
    const uint64_t rflags = f.vmcs.get(VmcsField::guest_rflags);
    const vmm::ExitAction a = f.exit(vmx::ExitReason::ept_violation);
    CHECK(a.kind == vmm::ExitAction::Kind::stop);
    CHECK(f.ctx.event_delivery == r.valid);
    CHECK(f.injected() == (r.valid ? r.entry_info : 0u));
    CHECK(f.vmcs.get(VmcsField::vm_entry_exception_error_code) == (r.error_code ? r.idt_error : 0u));
    CHECK(f.vmcs.get(VmcsField::vm_entry_instruction_length) == (r.valid && r.length ? 2u : 0u));
    CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) ==
          ((intr::blocking_by_nmi | kStiMovSs) & ~(r.valid ? r.clear : 0)));
    CHECK(f.vmcs.get(VmcsField::guest_rflags) == rflags);  // RF untouched: saved as it was
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
  }
}

TEST_CASE("re-injection: a reason that cannot interrupt a delivery never reads the field") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::idt_vectoring_info, 0x80000030);  // stale from an earlier exit
  f.gpr(arch::Gpr::rax) = 0;
  (void)f.exit(vmx::ExitReason::cpuid);
  CHECK_FALSE(f.ctx.event_delivery);
  CHECK(f.injected() == 0);
}

// ---- an exception raised during a delivery: the double-fault rules (SDM Vol 3A 6.15) ------

namespace {
// SDM Vol 3A Table 6-5, written out per pair of events, not per class: the first event (as
// the IDT-vectoring information gives it) and the exception a handler raises.
enum class Answer { second, df, shutdown };
struct FaultRow {
  const char* what;
  uint32_t first;  // IDT-vectoring information
  uint8_t second;  // hardware exception raised by the handler
  Answer answer;
};
constexpr FaultRow kTable65[] = {
    {"INTR then #GP: serially", 0x80000030, 13, Answer::second},
    {"NMI then #PF: serially", 0x80000202, 14, Answer::second},
    {"INT 0x80 then #NP: serially", 0x80000480, 11, Answer::second},
    {"INT3 then #GP: serially", 0x80000603, 13, Answer::second},
    {"INTO then #SS: serially", 0x80000604, 12, Answer::second},
    {"#DB then #TS: serially", 0x80000301, 10, Answer::second},
    {"#UD then #GP: serially", 0x80000306, 13, Answer::second},
    {"#MC then #PF: serially", 0x80000312, 14, Answer::second},
    {"#AC then #GP: serially", 0x80000b11, 13, Answer::second},
    {"#DE then #GP: #DF", 0x80000300, 13, Answer::df},
    {"#TS then #TS: #DF", 0x80000b0a, 10, Answer::df},
    {"#NP then #SS: #DF", 0x80000b0b, 12, Answer::df},
    {"#SS then #NP: #DF", 0x80000b0c, 11, Answer::df},
    {"#GP then #GP: #DF", 0x80000b0d, 13, Answer::df},
    {"#GP then #DE: #DF", 0x80000b0d, 0, Answer::df},
    {"#CP then #GP: #DF (#CP is contributory)", 0x80000b15, 13, Answer::df},
    {"#GP then #CP: #DF", 0x80000b0d, 21, Answer::df},
    {"#GP then #PF: serially", 0x80000b0d, 14, Answer::second},
    {"#GP then #UD (benign): serially", 0x80000b0d, 6, Answer::second},
    {"#PF then #PF: #DF", 0x80000b0e, 14, Answer::df},
    {"#PF then #GP: #DF", 0x80000b0e, 13, Answer::df},
    {"#PF then #TS: #DF", 0x80000b0e, 10, Answer::df},
    {"#PF then #DB (benign): serially", 0x80000b0e, 1, Answer::second},
    {"#DF then #GP: shutdown", 0x80000b08, 13, Answer::shutdown},
    {"#DF then #PF: shutdown", 0x80000b08, 14, Answer::shutdown},
    {"#DF then #TS: shutdown", 0x80000b08, 10, Answer::shutdown},
    {"#DF then #UD (benign): serially", 0x80000b08, 6, Answer::second},
    {"nothing was being delivered: the exception as raised", 0x00000b0d, 13, Answer::second},
};
}  // namespace

TEST_CASE("exception during a delivery: combined with the interrupted event by Table 6-5") {
  for (const FaultRow& r : kTable65) {
    CAPTURE(r.what);
    const bool ec = vmm::vector_pushes_error_code(r.second);
    const vmm::ExitAction raised = vmm::ExitAction::inject({r.second, EventType::hardware_exception, ec, ec ? 0x18u : 0u});
    const vmm::ExitAction a = vmm::combine_with_interrupted_event(r.first, raised);
    switch (r.answer) {
      case Answer::shutdown: CHECK(a.kind == vmm::ExitAction::Kind::stop); break;
      case Answer::second:
        REQUIRE(a.kind == vmm::ExitAction::Kind::inject);
        CHECK(a.event.vector == r.second);
        CHECK(a.event.error_code == raised.event.error_code);
        break;
      case Answer::df:
        REQUIRE(a.kind == vmm::ExitAction::Kind::inject);
        CHECK(a.event.vector == vmm::vector::DF);
        CHECK(a.event.type == EventType::hardware_exception);
        CHECK(a.event.has_error_code);
        CHECK(a.event.error_code == 0);
        break;
    }
  }
  // Answers that are not an injection pass unchanged.
  CHECK(vmm::combine_with_interrupted_event(0x80000b08, vmm::ExitAction::resume()).kind == vmm::ExitAction::Kind::resume);
  CHECK(vmm::combine_with_interrupted_event(0x80000b0d, vmm::ExitAction::advance()).kind ==
        vmm::ExitAction::Kind::advance_rip);
}

TEST_CASE("exception during an NMI's delivery: the exception takes its place and NMIs stay blocked") {
  // An NMI delivered through a task gate (IDT entry 2), refused with #TS: the NMI had
  // blocked NMIs as its delivery began; the #TS handler runs with them blocked.
  HandlerFixture f;
  f.vmcs.set(VmcsField::idt_vectoring_info, 0x80000202);                   // NMI, valid
  f.vmcs.set(VmcsField::exit_qualification, (3ull << 30) | 0x28);            // task gate in the IDT, TSS 0x28
  f.vmcs.set(VmcsField::guest_interruptibility_state, intr::blocking_by_nmi);
  const vmm::ExitAction a = f.exit(vmx::ExitReason::task_switch);
  REQUIRE(a.kind == vmm::ExitAction::Kind::inject);
  CHECK(a.event.vector == vmm::vector::TS);
  CHECK((f.vmcs.get(VmcsField::guest_interruptibility_state) & intr::blocking_by_nmi) != 0);
  // An external interrupt's delivery leaves the blocking as it was (clear here).
  HandlerFixture g;
  g.vmcs.set(VmcsField::idt_vectoring_info, 0x80000030);                     // external interrupt 0x30
  g.vmcs.set(VmcsField::exit_qualification, (3ull << 30) | 0x28);
  REQUIRE(g.exit(vmx::ExitReason::task_switch).kind == vmm::ExitAction::Kind::inject);
  CHECK((g.vmcs.get(VmcsField::guest_interruptibility_state) & intr::blocking_by_nmi) == 0);
}

TEST_CASE("exception during a #DF's delivery: the CPU enters the shutdown state, as on a triple fault") {
  // #DF delivered through a task gate (IDT entry 8), refused with #TS (contributory): Table 6-5
  // says shutdown. The vCPU then waits in the shutdown activity state for INIT or NMI.
  HandlerFixture f;
  f.policy.activity_shutdown = true;
  f.vmcs.set(VmcsField::idt_vectoring_info, 0x80000b08);                   // #DF, error code, valid
  f.vmcs.set(VmcsField::exit_qualification, (3ull << 30) | 0x28);            // task gate in the IDT, TSS 0x28
  const vmm::ExitAction a = f.exit(vmx::ExitReason::task_switch);
  CHECK(a.kind == vmm::ExitAction::Kind::resume);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == 2);
  CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == 0);  // the re-injected #DF is dropped
  // Without the shutdown activity state the CPU stops, as on a triple fault there.
  HandlerFixture g;
  g.policy.activity_shutdown = false;
  g.vmcs.set(VmcsField::idt_vectoring_info, 0x80000b08);
  g.vmcs.set(VmcsField::exit_qualification, (3ull << 30) | 0x28);
  CHECK(g.exit(vmx::ExitReason::task_switch).kind == vmm::ExitAction::Kind::stop);
}

// ---- NMI unblocking due to IRET (SDM Vol 3C 28.2.1-28.2.3) ---------------------------------

namespace {
vmm::OnDemandMap g_on_demand_answer = vmm::OnDemandMap::mapped;
vmm::OnDemandMap on_demand(uint64_t) { return g_on_demand_answer; }
constexpr uint64_t kIretBit = 1u << 12;
}  // namespace

TEST_CASE("NMI unblocking due to IRET: which exits define the bit") {
  using R = vmx::ExitReason;
  struct Row {
    const char* what;
    R reason;
    uint64_t qualification;
    uint32_t info;
    bool virtual_nmis, event_delivery, reblock;
  };
  const Row rows[] = {
      {"EPT violation, bit 12", R::ept_violation, kIretBit | 1, 0, true, false, true},
      {"EPT violation, no bit 12", R::ept_violation, 1, 0, true, false, false},
      {"EPT violation during a delivery: undefined", R::ept_violation, kIretBit | 1, 0, true, true, false},
      {"EPT violation, NMI exiting without virtual NMIs: undefined", R::ept_violation, kIretBit | 1, 0, false, false,
       false},
      {"PML full, bit 12", R::page_modification_log_full, kIretBit, 0, true, false, true},
      {"SPP-related event, bit 12", R::spp_related_event, kIretBit, 0, true, false, true},
      {"#GP exit on IRET, bit 12", R::exception_or_nmi, 0, 0x80000b0d | kIretBit, true, false, true},
      {"#PF exit on IRET, bit 12", R::exception_or_nmi, 0, 0x80000b0e | kIretBit, true, false, true},
      {"#DF exit: undefined", R::exception_or_nmi, 0, 0x80000b08 | kIretBit, true, false, false},
      {"exception exit, info not valid", R::exception_or_nmi, 0, 0x00000b0d | kIretBit, true, false, false},
      {"exception exit, bit 12 in the qualification only", R::exception_or_nmi, kIretBit, 0x80000b0d, true, false,
       false},
      {"APIC access: no such bit", R::apic_access, kIretBit, 0, true, false, false},
      {"EPT misconfiguration: no qualification", R::ept_misconfiguration, kIretBit, 0, true, false, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(vmm::iret_reblocks_nmi(static_cast<uint16_t>(r.reason), r.qualification, r.info, r.virtual_nmis,
                                 r.event_delivery) == r.reblock);
  }
}

TEST_CASE("NMI unblocking due to IRET: blocking by NMI set again only when the IRET is re-executed") {
  struct Row {
    const char* what;
    uint64_t qualification;
    uint32_t pin;
    uint32_t idt_info;
    vmm::OnDemandMap answer;
    bool blocked_after;
  };
  const uint32_t vnmi = vmx::pin::nmi_exiting | vmx::pin::virtual_nmis;
  const Row rows[] = {
      {"IRET's read mapped on demand, resumed at the IRET", kIretBit | 1, vnmi, 0, vmm::OnDemandMap::mapped, true},
      {"no IRET", 1, vnmi, 0, vmm::OnDemandMap::mapped, false},
      {"virtual NMIs off: bit undefined", kIretBit | 1, vmx::pin::nmi_exiting, 0, vmm::OnDemandMap::mapped, false},
      {"during a delivery: bit undefined", kIretBit | 1, vnmi, 0x80000030, vmm::OnDemandMap::mapped, false},
      {"the CPU stops: nothing resumes", kIretBit | 1, vnmi, 0, vmm::OnDemandMap::not_here, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    g_on_demand_answer = r.answer;
    f.policy.ept_on_demand = on_demand;
    f.vmcs.set(VmcsField::pin_based_controls, r.pin);
    f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    f.vmcs.set(VmcsField::guest_physical_address, uint64_t{1} << 39);
    f.vmcs.set(VmcsField::idt_vectoring_info, r.idt_info);
    f.vmcs.set(VmcsField::guest_interruptibility_state, 0);
    (void)f.exit(vmx::ExitReason::ept_violation);
    CHECK(bool(f.vmcs.get(VmcsField::guest_interruptibility_state) & intr::blocking_by_nmi) == r.blocked_after);
  }
}
