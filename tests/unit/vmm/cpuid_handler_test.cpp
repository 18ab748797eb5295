// The CPUID exit handler (vmm/handlers/cpuid.cpp) through the dispatcher, over FakeHostOps:
// leaves the guest policy leaves alone go through HostOps::cpuid_into (the fake uses its
// default), the others through filter_cpuid. One row per leaf.
#include <catch.hpp>

#include "handler_fixture.hpp"
#include "vmm/host_ops.hpp"
#include "vmm/policy/cpuid_filter.hpp"

using namespace vmm_test;
using arch::Gpr;

TEST_CASE("CPUID exit: the guest's leaf/subleaf in, 32-bit results zero-extended out, RIP advanced") {
  struct Row {
    const char* what;
    uint32_t leaf, subleaf;
    arch::CpuidRegs host;      // what the fake host's CPUID answers for (leaf, subleaf)
    arch::CpuidRegs expected;  // what the guest reads
  };
  const Row rows[] = {
      {"leaf 0 passes through", 0, 0, {0x1f, 0x756e6547, 0x6c65746e, 0x49656e69}, {0x1f, 0x756e6547, 0x6c65746e, 0x49656e69}},
      {"leaf 4 subleaf 2 passes through (ECX selects)", 4, 2, {0x11, 0x22, 0x33, 0x44}, {0x11, 0x22, 0x33, 0x44}},
      // The fixture's host answers leaf 1 with {kSignature, 0, 0, 0}; its guest has CR4.OSXSAVE.
      {"leaf 1: hypervisor present, OSXSAVE from the guest's CR4 (filtered)", 1, 0, {kSignature, 0, 0, 0},
       {kSignature, 0, vmm::policy::cpuid::kLeaf1EcxHypervisor | vmm::policy::cpuid::kLeaf1EcxOsxsave, 0}},
      {"leaf 40000000h: apexvisor's signature (filtered)", 0x40000000, 0, {0xdead, 0xdead, 0xdead, 0xdead},
       {vmm::policy::kHypervisorMaxLeaf, 0x78657061, 0x6f736976, 0x72}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.host.set_cpuid(r.leaf, r.subleaf, r.host);
    // Junk in the upper halves and in the subleaf register's upper half: CPUID reads EAX/ECX
    // only and clears bits 63:32 of all four results.
    f.gpr(Gpr::rax) = 0xaaaaaaaa00000000ull | r.leaf;
    f.gpr(Gpr::rcx) = 0xcccccccc00000000ull | r.subleaf;
    f.gpr(Gpr::rbx) = f.gpr(Gpr::rdx) = ~0ull;
    const vmm::ExitAction a = f.exit(vmx::ExitReason::cpuid);
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.advanced());
    CHECK(f.gpr(Gpr::rax) == r.expected.eax);
    CHECK(f.gpr(Gpr::rbx) == r.expected.ebx);
    CHECK(f.gpr(Gpr::rcx) == r.expected.ecx);
    CHECK(f.gpr(Gpr::rdx) == r.expected.edx);
    CHECK(f.host.cpuid_calls == 1);
  }
}

// OSXSAVE (leaf 1) and OSPKE (leaf 7) follow the guest's CR4 as the guest reads it. Both bits
// are guest-owned: a guest that sets CR4.OSXSAVE does so without an exit, so the real CR4
// changes and the read shadow does not. (Issue P9: OSXSAVE read 0 after the guest set it.)
TEST_CASE("CPUID exit: OSXSAVE and OSPKE follow the guest-owned CR4 bits, not a stale read shadow") {
  namespace cpuid = vmm::policy::cpuid;
  struct Row {
    const char* what;
    uint32_t leaf;
    uint64_t bit;        // the CR4 bit
    uint32_t ecx_flag;   // the CPUID.ECX flag that mirrors it
  };
  const Row rows[] = {{"leaf 1 OSXSAVE", 1, cr4::OSXSAVE, cpuid::kLeaf1EcxOsxsave},
                      {"leaf 7 OSPKE", 7, cr4::PKE, cpuid::kLeaf7EcxOspke}};
  for (const Row& r : rows) {
    for (bool on : {false, true}) {
      CAPTURE(r.what, on);
      HandlerFixture f;
      REQUIRE((f.vmcs.get(VmcsField::cr4_guest_host_mask) & r.bit) == 0);  // guest-owned
      const uint64_t real = f.vmcs.get(VmcsField::guest_cr4), shadow = f.vmcs.get(VmcsField::cr4_read_shadow);
      // the guest changed the bit without an exit: the real CR4 has the new value, the shadow the old
      f.vmcs.set(VmcsField::guest_cr4, on ? real | r.bit : real & ~r.bit);
      f.vmcs.set(VmcsField::cr4_read_shadow, on ? shadow & ~r.bit : shadow | r.bit);
      f.host.set_cpuid(r.leaf, 0, {0, 0, 0, 0});
      f.gpr(Gpr::rax) = r.leaf;
      f.gpr(Gpr::rcx) = 0;
      f.exit(vmx::ExitReason::cpuid);
      CHECK(((f.gpr(Gpr::rcx) & r.ecx_flag) != 0) == on);
    }
  }
}
