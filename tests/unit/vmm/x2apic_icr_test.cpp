// WRMSR to the x2APIC ICR (MSR 0x830) through the real WRMSR handler (issue P6).
#include "handler_fixture.hpp"
#include "vmm/apic/ap_start_mode.hpp"
#include "vmm/apic/x2apic_icr.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/vcpu_registry.hpp"

using namespace vmm_test;
using vmm::apic::ApStartMode;

namespace {
struct X2apicFixture : HandlerFixture {
  vmm::Vcpu target{};
  vmm::apic::ApicTopology topo;
  X2apicFixture() {
    vmm::reset_vcpu_registry();
    vcpu.index = 0;
    vcpu.virtualized = true;
    target.index = 1;
    target.virtualized = true;
    REQUIRE(vmm::register_vcpu(&vcpu));
    REQUIRE(vmm::register_vcpu(&target));
    topo.count = 2;
    topo.apic_id[0] = 0;
    topo.apic_id[1] = 5;
    vmm::apic::set_x2apic_topology(&topo);
    host.set_msr(0x830, 0);  // the fake CPU has an x2APIC ICR
  }
  ~X2apicFixture() {
    vmm::apic::set_ap_start_mode(ApStartMode::native);
    vmm::apic::set_x2apic_topology(nullptr);
    vmm::reset_vcpu_registry();
  }
  vmm::ExitAction wrmsr(uint64_t value) {
    vcpu.regs.gpr[1] = 0x830;  // ECX
    vcpu.regs.gpr[0] = static_cast<uint32_t>(value);
    vcpu.regs.gpr[2] = value >> 32;
    return vmm::handle_wrmsr(ctx);
  }
};
}  // namespace

TEST_CASE("x2APIC ICR writes: native passes through, intercept emulates INIT/STARTUP") {
  X2apicFixture f;
  SECTION("native mode: the value goes to the real MSR, the guest advances") {
    vmm::apic::set_ap_start_mode(ApStartMode::native);
    auto a = f.wrmsr(0x000000050000c500ull);
    CHECK(a.kind == vmm::ExitAction::Kind::advance_rip);
    CHECK(f.host.last_wrmsr == 0x830);
    CHECK(f.host.last_wrmsr_value == 0x000000050000c500ull);
    CHECK(f.target.mailbox.empty());
  }
  SECTION("intercept mode: INIT to APIC id 5 is posted to CPU 1 and kicked with an NMI") {
    vmm::apic::set_ap_start_mode(ApStartMode::intercept);
    auto a = f.wrmsr(0x000000050000c500ull);
    CHECK(a.kind == vmm::ExitAction::Kind::advance_rip);
    CHECK(f.host.wrmsr_calls == 1);
    CHECK(f.host.last_wrmsr_value == ((5ull << 32) | 0x400));  // NMI, physical, to APIC id 5
    vmm::apic::ApEvent e{};
    REQUIRE(f.target.mailbox.take(&e));
    CHECK(e.kind == vmm::apic::ApEvent::Kind::init);
    CHECK(f.target.mailbox.consume_kick());
  }
  SECTION("intercept mode: a fixed IPI goes to the real MSR unchanged") {
    vmm::apic::set_ap_start_mode(ApStartMode::intercept);
    f.wrmsr(0x00000005000000fdull);
    CHECK(f.host.last_wrmsr_value == 0x00000005000000fdull);
    CHECK(f.target.mailbox.empty());
  }
  SECTION("intercept mode: reserved ICR bits #GP (SDM 11.12.9)") {
    vmm::apic::set_ap_start_mode(ApStartMode::intercept);
    auto a = f.wrmsr(0x0000000500100500ull);  // bit 20 set
    CHECK(a.kind == vmm::ExitAction::Kind::inject);
    CHECK(a.event.vector == 13);
    CHECK(f.host.wrmsr_calls == 0);
  }
}
