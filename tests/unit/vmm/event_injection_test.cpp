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
