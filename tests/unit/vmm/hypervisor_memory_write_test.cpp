// A guest write into hypervisor memory (vmm/handlers/hypervisor_memory_write.hpp), through the
// EPT-violation handler as the exit path runs it: the write is discarded and counted, the
// instruction's other effects happen (RIP, registers, writes to ordinary memory), and the
// guest goes on; an instruction the emulator cannot do is skipped whole; the guest CPU never
// stops. FakeVmcs and guest memory with 4-level paging (emulate_test_support.hpp).
#include "ept_violation_rig.hpp"
#include "vmm/handlers/hypervisor_memory_write.hpp"

using namespace vmm_test;
using arch::Gpr;
using emu_test::Bytes;
namespace pte = vmm::guest_memory::pte;

namespace {

constexpr uint64_t kCode = EptViolationRig::kCode;
constexpr uint64_t kHidden = 0x800000;  // "hypervisor memory": hidden in the (pretend) EPT
constexpr uint64_t kRam = 0x900000;     // ordinary guest RAM
constexpr uint64_t kWriteQual = (1u << 1) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8);

bool hidden(uint64_t gpa) { return gpa >= kHidden && gpa < kHidden + 0x1000; }

struct Rig : EptViolationRig {
  Rig() : EptViolationRig(hidden) {
    pt.map(kHidden, kHidden, pte::P | pte::RW);
    pt.map(kRam, kRam, pte::P | pte::RW);
    phys.map_ram(kHidden, 0x1000);
    phys.map_ram(kRam, 0x1000);
    phys.poke32(kHidden, 0x11223344);  // what the hypervisor keeps there: never changed
    f.policy.hypervisor_memory = hidden;
    f.vmcs.set(VmcsField::exit_qualification, kWriteQual);
  }
  vmm::ExitAction write_exit(const Bytes& code, uint64_t gpa) { return ept_violation(code, gpa); }
};

}  // namespace

TEST_CASE("write into hypervisor memory: discarded and counted, the instruction completes, the guest goes on") {
  struct Row {
    const char* what;
    Bytes code;
    uint64_t rip_after;
    uint64_t rax_after;
  };
  const Row rows[] = {
      {"mov [rdi], eax", {0x89, 0x07}, kCode + 2, 0xdeadbeef},
      {"xchg [rdi], eax: the register gets what the page reads (zero)", {0x87, 0x07}, kCode + 2, 0},
      {"add dword [rdi], 1", {0x83, 0x07, 0x01}, kCode + 3, 0xdeadbeef},
      {"lock cmpxchg [rdi], ecx (not emulated): skipped whole", {0xf0, 0x0f, 0xb1, 0x0f}, kCode + 4, 0xdeadbeef},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    Rig rig;
    rig.f.gpr(Gpr::rdi) = kHidden;
    rig.f.gpr(Gpr::rax) = 0xdeadbeef;
    rig.f.gpr(Gpr::rcx) = 0x55;
    const vmm::ExitAction a = rig.write_exit(r.code, kHidden);
    CHECK(a.kind == vmm::ExitAction::Kind::resume);
    CHECK(rig.f.applied);
    CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
    CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == r.rip_after);
    CHECK(rig.f.gpr(Gpr::rax) == r.rax_after);
    CHECK(rig.phys.peek(kHidden, 4) == 0x11223344);  // the hypervisor's bytes are untouched
    CHECK(rig.f.vcpu.hypervisor_writes_discarded == 1);
    CHECK(rig.f.injected() == 0);
  }
}

TEST_CASE("write into hypervisor memory: a REP STOS from ordinary RAM into it writes the RAM and drops the rest") {
  Rig rig;
  rig.f.gpr(Gpr::rdi) = kHidden - 8;  // 8 bytes below the hidden page, in RAM
  rig.pt.map(kHidden - 0x1000, kHidden - 0x1000, pte::P | pte::RW);
  rig.phys.map_ram(kHidden - 0x1000, 0x1000);
  rig.f.gpr(Gpr::rcx) = 4;  // 4 dwords: two below the page, two into it
  rig.f.gpr(Gpr::rax) = 0xabababab;
  const vmm::ExitAction a = rig.write_exit({0xf3, 0xab}, kHidden);
  CHECK(a.kind == vmm::ExitAction::Kind::resume);
  CHECK(rig.phys.peek(kHidden - 8, 8) == 0xababababababababull);
  CHECK(rig.phys.peek(kHidden, 8) == 0x11223344ull);
  CHECK(rig.f.gpr(Gpr::rcx) == 0);
  CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == kCode + 2);
}

TEST_CASE("write into hypervisor memory: an instruction the emulator cannot do is skipped whole, never a stop") {
  Rig rig;
  rig.f.gpr(Gpr::rdi) = kHidden;
  // movnti [rdi], eax (0f c3 07): a store the emulator does not model
  const vmm::ExitAction a = rig.write_exit({0x0f, 0xc3, 0x07}, kHidden);
  CHECK(a.kind != vmm::ExitAction::Kind::stop);
  CHECK(rig.f.vcpu.state == vmm::VcpuState::active);
  CHECK(rig.phys.peek(kHidden, 4) == 0x11223344);
  CHECK(rig.f.vmcs.get(VmcsField::guest_rip) == kCode + 3);
}

TEST_CASE("write into hypervisor memory during event delivery, or into unhidden memory: not discarded (the old stop)") {
  Rig rig;
  rig.f.gpr(Gpr::rdi) = kRam;
  CHECK(rig.write_exit({0x89, 0x07}, kRam).kind == vmm::ExitAction::Kind::stop);
  Rig delivering;
  delivering.f.gpr(Gpr::rdi) = kHidden;
  delivering.f.vmcs.set(VmcsField::idt_vectoring_info, 0x80000020);  // external interrupt 0x20
  CHECK(delivering.write_exit({0x89, 0x07}, kHidden).kind == vmm::ExitAction::Kind::stop);
  CHECK(delivering.f.vcpu.hypervisor_writes_discarded == 0);
}
