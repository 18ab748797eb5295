// Where a guest NMI goes before the next entry (vmm/nmi_delivery.hpp): injected, or held for
// the NMI window / the SIPI. The pending bit is always cleared, so the exit stub's re-entry
// test (vmm/host/reentry_window.hpp) never spins on an NMI that has to wait.
#include "handler_fixture.hpp"
#include "vmm/handlers/reset_state.hpp"
#include "vmm/nmi_delivery.hpp"

using namespace vmm_test;
namespace intr = vmx::interruptibility;

namespace {
constexpr uint64_t kNmiInjection = (1u << 31) | (2u << 8) | 2;  // valid, type NMI, vector 2
bool window_open(HandlerFixture& f) {
  return f.vmcs.get(VmcsField::primary_processor_based_controls) & vmx::proc::nmi_window_exiting;
}
}  // namespace

TEST_CASE("a pending NMI the guest can take is injected; nothing is held") {
  HandlerFixture f;
  f.vcpu.pending.set(vmm::pending::nmi);
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == kNmiInjection);
  CHECK_FALSE(f.vcpu.pending.has(vmm::pending::nmi));
  CHECK_FALSE(f.vcpu.nmi_held);
  CHECK_FALSE(window_open(f));
}

TEST_CASE("a pending NMI that must wait is held for the NMI window, and the pending bit is cleared") {
  struct Row {
    const char* what;
    uint64_t interruptibility, entry_info, pending_debug;
  };
  const Row rows[] = {
      {"blocking by NMI (nested NMI)", intr::blocking_by_nmi, 0, 0},
      {"blocking by STI", intr::blocking_by_sti, 0, 0},
      {"blocking by MOV SS", intr::blocking_by_mov_ss, 0, 0},
      {"another event being injected", 0, (1u << 31) | (3u << 8) | 13, 0},
      {"a single-step trap pending", 0, 0, vmx::pending_debug::bs},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.vmcs.set(VmcsField::guest_interruptibility_state, r.interruptibility);
    f.vmcs.set(VmcsField::vm_entry_interruption_info, r.entry_info);
    f.vmcs.set(VmcsField::guest_pending_debug_exceptions, r.pending_debug);
    f.vcpu.pending.set(vmm::pending::nmi);
    vmm::place_pending_nmi(f.vmcs, f.vcpu);
    CHECK(f.vcpu.pending.any() == 0);  // the stub's test passes: no spinning in VMX root
    CHECK(f.vcpu.nmi_held);
    CHECK(window_open(f));
    CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == r.entry_info);
    // The window exit injects it, once.
    f.vmcs.set(VmcsField::guest_interruptibility_state, 0);
    const vmm::ExitAction a = f.exit(vmx::ExitReason::nmi_window);
    CHECK(outcome_of(a) == Outcome::nmi);
    CHECK_FALSE(f.vcpu.nmi_held);
    CHECK_FALSE(window_open(f));
    CHECK(outcome_of(f.exit(vmx::ExitReason::nmi_window)) == Outcome::resume);  // nothing left
  }
}

TEST_CASE("a second NMI while one is held stays one NMI (they collapse, as on hardware)") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::guest_interruptibility_state, intr::blocking_by_nmi);
  f.vcpu.pending.set(vmm::pending::nmi);
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  f.vcpu.pending.set(vmm::pending::nmi);
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  CHECK(f.vcpu.pending.any() == 0);
  f.vmcs.set(VmcsField::guest_interruptibility_state, 0);
  CHECK(outcome_of(f.exit(vmx::ExitReason::nmi_window)) == Outcome::nmi);
  CHECK(outcome_of(f.exit(vmx::ExitReason::nmi_window)) == Outcome::resume);
}

TEST_CASE("an NMI in wait-for-SIPI is held without a window and taken after the SIPI") {
  HandlerFixture f;
  f.exit(vmx::ExitReason::init_signal);
  REQUIRE(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
  f.vcpu.pending.set(vmm::pending::nmi);  // an NMI that hit VMX root while the CPU waits
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  CHECK(f.vcpu.pending.any() == 0);
  CHECK(f.vcpu.nmi_held);
  CHECK_FALSE(window_open(f));  // no event may be injected into wait-for-SIPI
  CHECK((f.vmcs.get(VmcsField::vm_entry_interruption_info) & (1u << 31)) == 0);
  f.vmcs.set(VmcsField::exit_qualification, 0x9f);
  CHECK(outcome_of(f.exit(vmx::ExitReason::startup_ipi)) == Outcome::resume);
  CHECK(f.vcpu.pending.has(vmm::pending::nmi));  // armed again: the next entry injects it
  CHECK_FALSE(f.vcpu.nmi_held);
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == kNmiInjection);
}

TEST_CASE("INIT drops a held NMI and closes its window") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::guest_interruptibility_state, intr::blocking_by_nmi);
  f.vcpu.pending.set(vmm::pending::nmi);
  vmm::place_pending_nmi(f.vmcs, f.vcpu);
  REQUIRE(f.vcpu.nmi_held);
  f.exit(vmx::ExitReason::init_signal);
  CHECK_FALSE(f.vcpu.nmi_held);
  CHECK(f.vcpu.pending.any() == 0);
  CHECK_FALSE(window_open(f));
}
