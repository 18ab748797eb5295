// A 64-bit guest with 4-level paging whose memory accesses reach the EPT-violation handler
// as the exit path runs it: the instruction is placed at kCode, RIP points at it and the
// violation names its guest-physical (and, identity-mapped, linear) address. The tests of
// the handler's answers (hypervisor memory, on-demand mapping) derive their rigs from it and
// map the pages they need.
#pragma once
#include <stdint.h>

#include "emulate/emulate_test_support.hpp"
#include "handler_fixture.hpp"

namespace vmm_test {

struct EptViolationRig {
  static constexpr uint64_t kCode = 0x400000;
  HandlerFixture f;
  emu_test::FakePhys phys;
  vmm::guest_memory::GuestPhysView view;  // GuestPolicy::guest_ram
  emu_test::PageTables pt{phys, emu_test::PageTables::Mode::level4};

  explicit EptViolationRig(bool (*hypervisor_memory)(uint64_t)) : view(&phys, hypervisor_memory, exit_now) {
    pt.map(kCode, kCode, vmm::guest_memory::pte::P | vmm::guest_memory::pte::RW);
    f.policy.guest_ram = &view;
    f.vmcs.set(vmx::VmcsField::guest_cr3, pt.cr3());
    f.vmcs.set(vmx::VmcsField::guest_rsp, 0x7FF0);
    f.set_flat_segments();
  }

  // `code` at kCode, executed by the guest, violates the EPT at `gpa`.
  vmm::ExitAction ept_violation(const emu_test::Bytes& code, uint64_t gpa) {
    phys.poke(kCode, code.data(), code.size());
    f.vmcs.set(vmx::VmcsField::guest_rip, kCode);
    f.vmcs.set(vmx::VmcsField::guest_physical_address, gpa);
    f.vmcs.set(vmx::VmcsField::guest_linear_address, gpa);
    return f.exit(vmx::ExitReason::ept_violation);
  }
};

}  // namespace vmm_test
