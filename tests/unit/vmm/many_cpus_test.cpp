// A machine at apexvisor's CPU limit (vmm/cpu_limit.hpp): 1024 CPUs, x2APIC ids far above
// 255 and not contiguous (two sockets, as the firmware of a large server numbers them).
#include <memory>
#include <vector>
#include <catch.hpp>

#include "arch/apic_id.hpp"
#include "boot/cpu_limit_check.hpp"
#include "vmm/apic/ap_start.hpp"
#include "vmm/cpu_limit.hpp"
#include "vmm/vcpu_registry.hpp"

using namespace vmm::apic;

namespace {

// Socket 0: ids 0, 2, ... 1022; socket 1 starts at 0x1000 (the id's socket bits).
uint32_t server_apic_id(unsigned i) { return i < 512 ? i * 2 : 0x1000 + (i - 512) * 2; }

std::unique_ptr<ApicTopology> server_topology() {
  auto t = std::make_unique<ApicTopology>();
  t->count = vmm::kMaxCpus;
  for (unsigned i = 0; i < t->count; ++i) t->apic_id[i] = server_apic_id(i);
  return t;
}

Icr x2apic_physical(uint32_t dest) {
  Icr i{};
  i.x2apic = true;
  i.destination = dest;
  return i;
}

}  // namespace

TEST_CASE("1024 CPUs: every table holds the limit") {
  CHECK(vmm::kMaxCpus == 1024);
  CHECK(sizeof(TargetSet::bits) * 8 == vmm::kMaxCpus);
  CHECK(sizeof(ApicTopology::apic_id) / sizeof(uint32_t) == vmm::kMaxCpus);
  CHECK(boot::cpu_count_supported(1));
  CHECK(boot::cpu_count_supported(1024));
  CHECK_FALSE(boot::cpu_count_supported(1025));
  CHECK_FALSE(boot::cpu_count_supported(1ull << 32));  // a UINTN count that does not fit 32 bits
}

TEST_CASE("1024 CPUs: IPI destinations reach the right CPU among x2APIC ids above 255") {
  auto t = server_topology();
  struct Row {
    const char* what;
    Icr icr;
    unsigned sender;
    std::vector<unsigned> expect;
  };
  Icr logical = x2apic_physical(0x01010005);  // cluster 0x101 (ids 0x1010-0x101f), bits 0 and 2
  logical.logical = true;
  const Row rows[] = {
      {"id 0 is CPU 0", x2apic_physical(0), 5, {0}},
      {"id 0x3fe is CPU 511, the last of socket 0", x2apic_physical(0x3fe), 0, {511}},
      {"id 0x3ff is nobody", x2apic_physical(0x3ff), 0, {}},
      {"id 0x1000 is CPU 512", x2apic_physical(0x1000), 0, {512}},
      {"id 0x13fe is CPU 1023", x2apic_physical(0x13fe), 0, {1023}},
      {"id 0x100 is CPU 128, not an 8-bit alias", x2apic_physical(0x100), 0, {128}},
      {"x2APIC logical cluster 0x101 bits 0 and 2", logical, 0, {520, 521}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    TargetSet s = resolve_targets(r.icr, *t, r.sender);
    std::vector<unsigned> got;
    for (unsigned i = 0; i < vmm::kMaxCpus; ++i)
      if (s.has(i)) got.push_back(i);
    CHECK(got == r.expect);
  }
  CHECK(resolve_targets(x2apic_physical(0xffffffff), *t, 0).count() == 1024);
  Icr others{};
  others.x2apic = true;
  others.shorthand = Shorthand::all_excluding_self;
  TargetSet all_but = resolve_targets(others, *t, 700);
  CHECK(all_but.count() == 1023);
  CHECK_FALSE(all_but.has(700));
  CHECK(all_but.has(1023));
  others.shorthand = Shorthand::self;
  CHECK(resolve_targets(others, *t, 1023).count() == 1);
  CHECK(resolve_targets(others, *t, 1023).has(1023));
}

TEST_CASE("1024 CPUs: the vCPU registry takes every index below the limit and none above") {
  vmm::reset_vcpu_registry();
  std::vector<vmm::Vcpu> vcpus(vmm::kMaxCpus + 1);
  for (unsigned i = 0; i <= vmm::kMaxCpus; ++i) vcpus[i].index = i;
  for (unsigned i = 0; i < vmm::kMaxCpus; ++i) REQUIRE(vmm::register_vcpu(&vcpus[i]));
  CHECK_FALSE(vmm::register_vcpu(&vcpus[vmm::kMaxCpus]));
  CHECK(vmm::vcpu_count() == 1024);
  CHECK(vmm::vcpu_by_index(1023) == &vcpus[1023]);
  CHECK(vmm::vcpu_by_index(1024) == nullptr);
  vmm::reset_vcpu_registry();
}

TEST_CASE("this CPU's APIC id: the full x2APIC id where CPUID leaf 0xB has it") {
  // Leaf 0xB absent (max leaf 0xa, or EBX 0): the 8-bit initial id of leaf 1.
  CHECK_FALSE(arch::has_x2apic_id_leaf(0xa, 2));
  CHECK_FALSE(arch::has_x2apic_id_leaf(0x1f, 0));
  CHECK(arch::has_x2apic_id_leaf(0xb, 1));
  CHECK(arch::apic_id_from_cpuid(false, 0, 0x05000000) == 5);
  // Leaf 0xB present: its EDX, whole. Leaf 1 would say 0x02 for x2APIC id 0x1002.
  CHECK(arch::apic_id_from_cpuid(true, 0x1002, 0x02000000) == 0x1002);
}
