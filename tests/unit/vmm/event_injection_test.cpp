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
