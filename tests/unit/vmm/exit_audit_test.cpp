// vmm/exit_audit.def: the table is checked at compile time (vmm/exit_audit.hpp); here the
// answers of the handlers added for exits a guest can cause: the task switch's #TS, the #UD
// of SEAMCALL/TDCALL, and that a reason the audit calls guest-caused is never a stop.
#include "handler_fixture.hpp"
#include "vmm/exit_audit.hpp"
#include "vmm/handlers/task_switch.hpp"

using namespace vmm_test;
using vmx::ExitReason;

TEST_CASE("task switch: refused with #TS(new TSS selector), EXT from the event, combined by the #DF rules") {
  enum class Answer { ts, df, shutdown };
  struct Row {
    const char* what;
    uint64_t qualification;  // selector 15:0, source 31:30
    uint32_t idt_vectoring;
    Answer answer;
    uint32_t error_code;
  };
  const Row rows[] = {
      {"CALL to a TSS, RPL cleared", 0x002b, 0, Answer::ts, 0x0028},
      {"IRET with NT=1", (1ull << 30) | 0x0030, 0, Answer::ts, 0x0030},
      {"JMP to a TSS", (2ull << 30) | 0x0048, 0, Answer::ts, 0x0048},
      {"IDT task gate for an external interrupt: EXT", (3ull << 30) | 0x0058, 0x80000020, Answer::ts, 0x0059},
      {"IDT task gate for NMI (benign): #TS with EXT", (3ull << 30) | 0x0058, 0x80000202, Answer::ts, 0x0059},
      {"IDT task gate for #DB (benign exception): #TS with EXT", (3ull << 30) | 0x0058, 0x80000301, Answer::ts, 0x0059},
      {"IDT task gate for INT n (software interrupt): no EXT", (3ull << 30) | 0x0058, 0x80000480, Answer::ts, 0x0058},
      {"IDT task gate, vectoring info not valid: no EXT", (3ull << 30) | 0x0058, 0x00000b08, Answer::ts, 0x0058},
      {"IDT task gate for #GP (contributory): #DF(0)", (3ull << 30) | 0x0050, 0x80000b0d, Answer::df, 0},
      {"IDT task gate for #TS (contributory): #DF(0), no loop", (3ull << 30) | 0x0050, 0x80000b0a, Answer::df, 0},
      {"IDT task gate for #PF: #DF(0)", (3ull << 30) | 0x0050, 0x80000b0e, Answer::df, 0},
      {"IDT task gate for #DF: shutdown", (3ull << 30) | 0x0050, 0x80000b08, Answer::shutdown, 0},
  };
  // Through the dispatcher, as the image runs it: the #TS is combined with the event being
  // delivered through the task gate there (combine_with_interrupted_event), never here.
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.set_mode(Mode::prot32_paged);
    f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    f.vmcs.set(VmcsField::idt_vectoring_info, r.idt_vectoring);
    const vmm::ExitAction a = f.exit(ExitReason::task_switch);
    if (r.answer == Answer::shutdown) {
      CHECK(a.kind == vmm::ExitAction::Kind::stop);
      continue;
    }
    REQUIRE(a.kind == vmm::ExitAction::Kind::inject);
    CHECK(a.event.vector == (r.answer == Answer::ts ? vmm::vector::TS : vmm::vector::DF));
    CHECK(a.event.type == vmm::EventType::hardware_exception);
    CHECK(a.event.has_error_code);
    CHECK(a.event.error_code == r.error_code);
    CHECK(f.injected() == (0x80000b00u | a.event.vector));
  }
  // Through the dispatcher: the injection of #TS with the error code, RIP unchanged.
  HandlerFixture f;
  f.set_mode(Mode::prot32_paged);
  f.vmcs.set(VmcsField::exit_qualification, 0x002b);
  CHECK(outcome_of(f.exit(ExitReason::task_switch)) == Outcome::other_injection);
  CHECK(f.injected() == 0x80000b0a);
  CHECK(f.vmcs.get(VmcsField::vm_entry_exception_error_code) == 0x28);
  CHECK_FALSE(f.advanced());
}

TEST_CASE("SEAMCALL and TDCALL: #UD, as on a CPU without TDX") {
  for (ExitReason reason : {ExitReason::seamcall, ExitReason::tdcall}) {
    HandlerFixture f;
    CHECK(outcome_of(f.exit(reason)) == Outcome::ud);
    CHECK(f.injected() == kInjectUd);
  }
}

TEST_CASE("every exit the audit calls guest-caused has a handler that does not stop for its plain case") {
  size_t guest_rows = 0;
  for (const vmm::ExitAuditRow& row : vmm::kExitAudit) {
    if (row.cause != vmm::ExitCause::guest) continue;
    ++guest_rows;
    CAPTURE(vmx::exit_reason_name(row.reason));
    CHECK(vmm::exit_handler_for(static_cast<uint16_t>(row.reason)) != nullptr);
  }
  CHECK(guest_rows >= 30);  // the unconditional exits alone are more
}
