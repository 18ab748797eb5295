// An EPT violation above RAM, where the EPT maps on the first access (vmm/handlers/
// ept_violation.cpp, GuestPolicy::ept_on_demand): the block mapped, the access re-executed
// (an interrupted event delivery injected again); with the table pool exhausted, the access
// answered as by a bus with no device (reads all ones, writes dropped) and the guest goes on;
// never a stopped CPU. FakeVmcs and guest memory with 4-level paging.
#include "ept_violation_rig.hpp"

using namespace vmm_test;
using arch::Gpr;
using emu_test::Bytes;
namespace pte = vmm::guest_memory::pte;

namespace {

constexpr uint64_t kCode = EptViolationRig::kCode;
constexpr uint64_t kRam = 0x900000;
constexpr uint64_t kHigh = 0xfffffff000ull;  // 1 TiB - 4 KiB: nothing there but the bus
constexpr uint64_t kReadQual = (1u << 0) | (1u << 7) | (1u << 8);
constexpr uint64_t kWriteQual = (1u << 1) | (1u << 7) | (1u << 8);

vmm::OnDemandMap g_answer = vmm::OnDemandMap::not_here;
uint64_t g_asked = 0;
vmm::OnDemandMap on_demand(uint64_t gpa) {
  g_asked = gpa;
  return gpa >= (1ull << 32) ? g_answer : vmm::OnDemandMap::not_here;
}

// RAM at kCode and kRam only: kHigh is bad_gpa, as the host's view refuses it.
struct Rig : EptViolationRig {
  explicit Rig(vmm::OnDemandMap answer) : EptViolationRig(nullptr) {
    g_answer = answer;
    g_asked = 0;
    pt.map(kRam, kRam, pte::P | pte::RW);
    pt.map(kHigh, kHigh, pte::P | pte::RW | pte::PCD);
    phys.map_ram(kRam, 0x1000);
    f.policy.ept_on_demand = on_demand;
  }
  vmm::ExitAction exit(const Bytes& code, uint64_t gpa, uint64_t qual) {
    f.vmcs.set(VmcsField::exit_qualification, qual);
    return ept_violation(code, gpa);
  }
};

}  // namespace

TEST_CASE("EPT violation above RAM: mapped on demand, the access re-executed") {
  Rig rig(vmm::OnDemandMap::mapped);
  rig.f.gpr(Gpr::rdi) = kHigh;
  const vmm::ExitAction a = rig.exit({0x48, 0x8b, 0x07}, kHigh, kReadQual);  // mov rax, [rdi]
  CHECK(g_asked == kHigh);
  CHECK(a.kind == vmm::ExitAction::Kind::resume);
  CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
  CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == kCode);  // not advanced: the CPU does it now
}

TEST_CASE("EPT violation above RAM during event delivery: the event is injected again") {
  Rig rig(vmm::OnDemandMap::mapped);
  // An external interrupt, vector 0x30, whose delivery touched the unmapped block.
  rig.f.vmcs.set(VmcsField::idt_vectoring_info, (1u << 31) | 0x30);
  const vmm::ExitAction a = rig.exit({0x90}, kHigh, kWriteQual);
  // The dispatcher injected it again before the handler (vmm/exit_dispatch.hpp); the handler
  // maps the block and resumes, emulating nothing.
  CHECK(a.kind == vmm::ExitAction::Kind::resume);
  CHECK(rig.f.injected() == ((1u << 31) | 0x30));
  CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == kCode);
}

TEST_CASE("EPT violation above RAM with the table pool exhausted: answered as by no device") {
  struct Row {
    const char* what;
    Bytes code;
    uint64_t qual;
    uint64_t rip_after;
    uint64_t rax_after;
  };
  const Row rows[] = {
      {"mov rax, [rdi]: all ones", {0x48, 0x8b, 0x07}, kReadQual, kCode + 3, ~0ull},
      {"mov eax, [rdi]: all ones, zero-extended", {0x8b, 0x07}, kReadQual, kCode + 2, 0xffffffffull},
      {"mov [rdi], eax: dropped", {0x89, 0x07}, kWriteQual, kCode + 2, 0x12345678},
      {"xchg [rdi], eax: the register gets all ones", {0x87, 0x07}, kWriteQual, kCode + 2, 0xffffffffull},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    Rig rig(vmm::OnDemandMap::exhausted);
    rig.f.gpr(Gpr::rdi) = kHigh;
    rig.f.gpr(Gpr::rax) = 0x12345678;
    const vmm::ExitAction a = rig.exit(r.code, kHigh, r.qual);
    CHECK(a.kind == vmm::ExitAction::Kind::resume);
    CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
    CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == r.rip_after);
    CHECK(rig.f.gpr(Gpr::rax) == r.rax_after);
  }
  // RAM the same instruction touches stays RAM: movs from the void into RAM.
  Rig rig(vmm::OnDemandMap::exhausted);
  rig.f.gpr(Gpr::rsi) = kHigh;
  rig.f.gpr(Gpr::rdi) = kRam;
  rig.phys.poke32(kRam, 0x11223344);
  rig.exit({0xa5}, kHigh, kReadQual);  // movsd
  CHECK(rig.phys.peek(kRam, 4) == 0xffffffffull);
  CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == kCode + 1);
}

TEST_CASE("EPT violation not above RAM: still the stop with a dump (a bug in the tables)") {
  Rig rig(vmm::OnDemandMap::mapped);
  const vmm::ExitAction a = rig.exit({0x90}, 0x1000, kReadQual);
  CHECK(a.kind == vmm::ExitAction::Kind::stop);
}
