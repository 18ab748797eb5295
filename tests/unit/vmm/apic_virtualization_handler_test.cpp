// The exits APIC virtualization adds, through the real dispatcher (vmm/exit_handlers.def,
// vmm/handlers/apic_virtualization.cpp): APIC-write (56), APIC-access (44), TPR below
// threshold (43), and MOV to/from CR8 in the control-register handler (28).
#include <string>

#include "fake_xapic.hpp"
#include "handler_fixture.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmx/exit_qualification.hpp"

using namespace vmm_test;
using vmm::ExitAction;
using vmm::apic::ApicTopology;
using vmm::apic::VirtualApic;
using vmm::apic::VirtualApicPage;
using vmx::ExitReason;
using Access = FakeXapic::Access;

namespace {

constexpr unsigned RBX = 3;

// Exit qualification of APIC-access exits (SDM Vol 3C Table 28-6).
constexpr uint64_t apic_access_qual(unsigned type, unsigned offset) { return (uint64_t{type} << 12) | offset; }
// MOV CR (Table 28-3): CR in 3:0, access type in 5:4, register in 11:8.
constexpr uint64_t mov_to_cr(unsigned cr, unsigned gpr) { return cr | (uint64_t{gpr} << 8); }
constexpr uint64_t mov_from_cr(unsigned cr, unsigned gpr) { return cr | 0x10 | (uint64_t{gpr} << 8); }

// A machine with apic_virt in use: the VirtualApic is the global one for the test's length.
struct ApicVirtFixture : VapicFixture {
  explicit ApicVirtFixture(bool installed = true) { vmm::apic::set_virtual_apic(installed ? &vapic : nullptr); }
  ~ApicVirtFixture() { vmm::apic::set_virtual_apic(nullptr); }
  ExitAction exit_with(ExitReason reason, uint64_t qualification) {
    vmcs.set(VmcsField::exit_qualification, qualification);
    return exit(reason);
  }
  std::string reason_of(const ExitAction& a) const {
    return a.kind == ExitAction::Kind::stop && a.reason ? a.reason : "";
  }
};

}  // namespace

TEST_CASE("APIC virtualization exits stop when it is not in use") {
  ApicVirtFixture f(false);
  REQUIRE(vmm::apic::virtual_apic() == nullptr);
  for (ExitReason r : {ExitReason::apic_write, ExitReason::apic_access, ExitReason::tpr_below_threshold}) {
    CAPTURE(static_cast<unsigned>(r));
    const ExitAction a = f.exit_with(r, xapic::lvt_timer);
    CHECK(outcome_of(a) == Outcome::stop);
    CHECK(f.vcpu.state == vmm::VcpuState::stopped);
    f.vcpu.state = vmm::VcpuState::active;
  }
  CHECK(f.real.writes.empty());
  CHECK(f.emu.calls == 0);
}

TEST_CASE("APIC-write exit: the offset is qualification bits 11:0, the guest resumes where it is") {
  ApicVirtFixture f;
  f.page.set(xapic::lvt_timer, 0x000200ef);
  f.page.set(xapic::tpr, 0x20);
  const ExitAction a = f.exit_with(ExitReason::apic_write, 0xfffff000ull | xapic::lvt_timer);
  CHECK(outcome_of(a) == Outcome::resume);
  CHECK(f.applied);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);  // trap-like: not advanced again
  CHECK(f.real.writes_to(xapic::lvt_timer) == std::vector<uint32_t>{0x000200ef});
  CHECK(f.vmcs.get(VmcsField::tpr_threshold) == 2);
}

TEST_CASE("APIC-access exit: linear reads and writes are emulated, the rest stop naming the access") {
  ApicVirtFixture f;
  f.page.set(xapic::icr_high, 0x05000000);
  f.real.set(xapic::icr_high, 0x01000000);
  SECTION("type 0, data read") {
    f.emu.result = ExitAction::advance();
    const ExitAction a = f.exit_with(ExitReason::apic_access, apic_access_qual(0, xapic::ppr));
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.advanced());
    CHECK(f.emu.calls == 1);
    CHECK(f.emu.last_gpa == 0xfee000a0);
    CHECK_FALSE(f.emu.last_write);
    CHECK(f.emu.icr_high_seen == 0x01000000);
    CHECK(f.real.writes_to(xapic::icr_high).empty());
  }
  SECTION("type 1, data write: the page's ICR high goes first") {
    const ExitAction a = f.exit_with(ExitReason::apic_access, apic_access_qual(1, xapic::icr_low + 2));
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.emu.calls == 1);
    CHECK(f.emu.last_gpa == 0xfee00302);
    CHECK(f.emu.last_write);
    CHECK(f.emu.icr_high_seen == 0x05000000);
    REQUIRE(!f.real.writes.empty());
    CHECK(f.real.writes.front() == Access{xapic::icr_high, 0x05000000});
  }
  SECTION("asynchronous bit 16 does not change the type") {
    f.exit_with(ExitReason::apic_access, (1ull << 16) | apic_access_qual(0, xapic::timer_current_count));
    CHECK(f.emu.calls == 1);
    CHECK(f.emu.last_gpa == 0xfee00390);
  }
  SECTION("fetches, event delivery, physical accesses and reserved types stop") {
    struct Row {
      unsigned type;
      const char* words;
      const char* not_words;  // what a neighbouring type's message says
    };
    const Row rows[] = {{2, "instruction fetch", "physical"},
                        {3, "during event delivery", "guest-physical"},
                        {10, "guest-physical access during event delivery", nullptr},
                        {15, "guest-physical", "event delivery"},
                        {7, "reserved", nullptr}};
    for (const Row& r : rows) {
      CAPTURE(r.type);
      const ExitAction a = f.exit_with(ExitReason::apic_access, apic_access_qual(r.type, 0x0a0));
      CHECK(outcome_of(a) == Outcome::stop);
      const std::string why = f.reason_of(a);
      CAPTURE(why);
      CHECK(why.find(r.words) != std::string::npos);
      if (r.not_words) CHECK(why.find(r.not_words) == std::string::npos);
      CHECK(why.find("0xa0") != std::string::npos);
      f.vcpu.state = vmm::VcpuState::active;
    }
    CHECK(f.emu.calls == 0);
    CHECK(f.real.writes.empty());
  }
}

TEST_CASE("TPR-below-threshold exit: the real TPR takes the guest's lowered one") {
  ApicVirtFixture f;
  f.page.set(xapic::tpr, 0x10);
  f.real.set(xapic::tpr, 0x40);
  const ExitAction a = f.exit_with(ExitReason::tpr_below_threshold, 0);
  CHECK(outcome_of(a) == Outcome::resume);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
  CHECK(f.real.writes == std::vector<Access>{{xapic::tpr, 0x10}});
  CHECK(f.vmcs.get(VmcsField::tpr_threshold) == 1);
}

TEST_CASE("MOV to/from CR8 with APIC virtualization") {
  ApicVirtFixture f;
  f.page.set(xapic::tpr, 0x90);
  f.real.set(xapic::tpr, 0x90);
  SECTION("MOV to CR8 from RBX = 3") {
    f.gpr(arch::Gpr(RBX)) = 3;
    const ExitAction a = f.exit_with(ExitReason::control_register_access, mov_to_cr(8, RBX));
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.advanced());
    CHECK(f.page.get(xapic::tpr) == 0x30);
    CHECK(f.real.get(xapic::tpr) == 0x30);
    CHECK(f.vmcs.get(VmcsField::tpr_threshold) == 3);
  }
  SECTION("MOV to CR8 with a reserved bit: #GP(0)") {
    f.gpr(arch::Gpr(RBX)) = 0x10;
    const ExitAction a = f.exit_with(ExitReason::control_register_access, mov_to_cr(8, RBX));
    CHECK(outcome_of(a) == Outcome::gp);
    CHECK(f.injected() == kInjectGp);
    CHECK_FALSE(f.advanced());
    CHECK(f.page.get(xapic::tpr) == 0x90);
    CHECK(f.real.writes.empty());
  }
  SECTION("MOV to CR8 from R9 (register field bits 11:8)") {
    f.gpr(arch::Gpr(9)) = 0xe;
    CHECK(outcome_of(f.exit_with(ExitReason::control_register_access, mov_to_cr(8, 9))) == Outcome::advance);
    CHECK(f.real.get(xapic::tpr) == 0xe0);
  }
  SECTION("MOV from CR8 into RBX: the TPR's class") {
    f.gpr(arch::Gpr(RBX)) = 0xffffffffffffffffull;
    f.page.set(xapic::tpr, 0x7c);
    f.real.set(xapic::tpr, 0x7c);
    const ExitAction a = f.exit_with(ExitReason::control_register_access, mov_from_cr(8, RBX));
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.advanced());
    CHECK(f.gpr(arch::Gpr(RBX)) == 7);
    CHECK(f.real.writes.empty());
  }
}

TEST_CASE("MOV to/from CR8 without APIC virtualization still stops") {
  ApicVirtFixture f(false);
  f.gpr(arch::Gpr(RBX)) = 3;
  CHECK(outcome_of(f.exit_with(ExitReason::control_register_access, mov_to_cr(8, RBX))) == Outcome::stop);
  f.vcpu.state = vmm::VcpuState::active;
  CHECK(outcome_of(f.exit_with(ExitReason::control_register_access, mov_from_cr(8, RBX))) == Outcome::stop);
  CHECK(f.gpr(arch::Gpr(RBX)) == 3);
  CHECK_FALSE(f.advanced());
  CHECK(f.real.writes.empty());
  CHECK(f.page.get(xapic::tpr) == 0);
}
