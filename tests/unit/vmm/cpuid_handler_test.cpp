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
