// The virtual-APIC page kept as a mirror of the real xAPIC, and VirtualApic, which carries
// the exits of APIC-register virtualization out on the real APIC (vmm/apic/virtual_apic.hpp,
// config apic_virt=, issue P6).
#include <cstring>

#include "fake_xapic.hpp"
#include "handler_fixture.hpp"
#include "vmm/apic/virtual_apic.hpp"

using namespace vmm_test;
using vmm::ExitAction;
using vmm::apic::ApEvent;
using vmm::apic::ApicTopology;
using vmm::apic::VirtualApic;
using vmm::apic::VirtualApicPage;
using Access = FakeXapic::Access;

namespace {

constexpr uint32_t kPoison = 0xdeadbeef;

// Every word of the real APIC a value that names its offset, the page all poison.
void fill(FakeXapic& real, VirtualApicPage& page) {
  for (unsigned i = 0; i < 1024; ++i) {
    real.set(i * 4, 0xa5000000u | (i * 4));
    page.word[i] = kPoison;
  }
}

}  // namespace

TEST_CASE("mirror_all: what the CPU reads from the page is copied, the rest left alone") {
  FakeXapic real;
  VirtualApicPage page;
  fill(real, page);
  real.set(xapic::icr_low, 0x000050fd);  // a send still pending
  vmm::apic::mirror_all(page, real);

  for (const xapic::Register& r : xapic::kRegisters) {
    for (unsigned slot = 0; slot < r.count; ++slot) {
      const unsigned off = r.offset + 16 * slot;
      CAPTURE(r.name, off);
      switch (r.mirror) {
        case xapic::Mirror::software:
        case xapic::Mirror::hardware:
        case xapic::Mirror::tpr: CHECK(page.get(off) == real.get(off)); break;
        case xapic::Mirror::write_only: CHECK(page.get(off) == 0); break;
        case xapic::Mirror::icr_low: CHECK(page.get(off) == 0x000040fd); break;
        case xapic::Mirror::exits: CHECK(page.get(off) == kPoison); break;
      }
    }
  }
  CHECK(page.get(xapic::ldr) == (0xa5000000u | 0x0d0));
  CHECK(page.get(0x170) == (0xa5000000u | 0x170));  // ISR's last slot
  CHECK(page.get(0x270) == (0xa5000000u | 0x270));  // IRR's last slot
  CHECK(page.get(xapic::tpr) == (0xa5000000u | 0x080));
  CHECK(page.get(xapic::eoi) == 0);
  CHECK(page.get(xapic::ppr) == kPoison);
  CHECK(page.get(xapic::timer_current_count) == kPoison);
  CHECK(page.get(0x040) == kPoison);  // reserved
  CHECK(page.get(0x104) == kPoison);  // bytes 4..15 of an ISR slot
  CHECK(real.writes.empty());
}

TEST_CASE("mirror_hardware_owned: ISR, TMR and IRR only") {
  FakeXapic real;
  VirtualApicPage page;
  fill(real, page);
  vmm::apic::mirror_hardware_owned(page, real);
  for (unsigned i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(page.get(0x100 + 16 * i) == real.get(0x100 + 16 * i));
    CHECK(page.get(0x180 + 16 * i) == real.get(0x180 + 16 * i));
    CHECK(page.get(0x200 + 16 * i) == real.get(0x200 + 16 * i));
  }
  CHECK(page.get(xapic::ldr) == kPoison);
  CHECK(page.get(xapic::tpr) == kPoison);
  CHECK(page.get(xapic::esr) == kPoison);
  CHECK(real.writes.empty());
}

TEST_CASE("mirror_after_write: the register the guest wrote, as the real APIC now has it") {
  FakeXapic real;
  VirtualApicPage page;
  fill(real, page);

  SECTION("software register: read back, so the APIC's read-only bits show") {
    page.set(xapic::ldr, 0x12345678);    // what the guest wrote on the page
    real.write(xapic::ldr, 0x12345678);  // keeps bits 31:24
    vmm::apic::mirror_after_write(page, xapic::ldr, real);
    CHECK(page.get(xapic::ldr) == 0x12000000);
    // Any byte of the register names it.
    real.write(xapic::ldr, 0x34ffffff);
    vmm::apic::mirror_after_write(page, xapic::ldr + 2, real);
    CHECK(page.get(xapic::ldr) == 0x34000000);
  }
  SECTION("TPR: read back") {
    page.set(xapic::tpr, 0x1ff);
    real.write(xapic::tpr, 0x1ff);
    vmm::apic::mirror_after_write(page, xapic::tpr, real);
    CHECK(page.get(xapic::tpr) == 0xff);
  }
  SECTION("ICR low: the page's value (the guest's command) without delivery pending") {
    page.set(xapic::icr_low, 0x000050fd);
    real.set(xapic::icr_low, 0x00000777);  // not what the page takes
    vmm::apic::mirror_after_write(page, xapic::icr_low, real);
    CHECK(page.get(xapic::icr_low) == 0x000040fd);
  }
  SECTION("EOI reads 0") {
    page.set(xapic::eoi, 0x1234);
    vmm::apic::mirror_after_write(page, xapic::eoi, real);
    CHECK(page.get(xapic::eoi) == 0);
  }
  SECTION("hardware-owned and not-virtualized registers are not touched here") {
    vmm::apic::mirror_after_write(page, 0x110, real);
    vmm::apic::mirror_after_write(page, xapic::ppr, real);
    CHECK(page.get(0x110) == kPoison);
    CHECK(page.get(xapic::ppr) == kPoison);
  }
  SECTION("reserved offsets are ignored") {
    VirtualApicPage before;
    std::memcpy(&before, &page, sizeof page);
    for (unsigned off : {0x000u, 0x040u, 0x024u, 0x0d4u, 0x3f0u, 0x1000u, 0x10d0u}) {
      CAPTURE(off);
      vmm::apic::mirror_after_write(page, off, real);
    }
    CHECK(std::memcmp(&before, &page, sizeof page) == 0);
    CHECK(real.reads.empty());
  }
}

TEST_CASE("sync_tpr: the real TPR follows the virtual one; the threshold is its class") {
  FakeXapic real;
  VirtualApicPage page{};
  SECTION("equal: no write") {
    page.set(xapic::tpr, 0x5a);
    real.set(xapic::tpr, 0x5a);
    CHECK(vmm::apic::sync_tpr(page, real) == 5);
    CHECK(real.writes.empty());
  }
  SECTION("different: the real TPR takes VTPR") {
    page.set(xapic::tpr, 0x30);
    real.set(xapic::tpr, 0x70);
    CHECK(vmm::apic::sync_tpr(page, real) == 3);
    CHECK(real.writes == std::vector<Access>{{xapic::tpr, 0x30}});
  }
  SECTION("only VTPR bits 7:0 count") {
    page.set(xapic::tpr, 0xffffff20);
    real.set(xapic::tpr, 0x20);
    CHECK(vmm::apic::sync_tpr(page, real) == 2);
    CHECK(real.writes.empty());
    page.set(xapic::tpr, 0xffffffe1);
    CHECK(vmm::apic::sync_tpr(page, real) == 0xe);
    CHECK(real.writes == std::vector<Access>{{xapic::tpr, 0xe1}});
  }
}


TEST_CASE("VirtualApic: APIC write of an LVT register") {
  VapicFixture f;
  REQUIRE(f.vapic.ready());
  f.set_hardware_owned();
  f.page.set(xapic::tpr, 0x50);  // raised through the page without an exit
  f.real.set(xapic::tpr, 0x20);
  f.page.set(xapic::lvt_timer, 0xfff310ef);  // what the guest wrote: periodic, masked, bits it cannot set
  f.vmcs.set(VmcsField::tpr_threshold, 2);

  const ExitAction a = f.vapic.apic_write(f.ctx, xapic::lvt_timer);
  CHECK(outcome_of(a) == Outcome::resume);  // trap-like: RIP is already past the write
  CHECK(f.real.writes_to(xapic::lvt_timer) == std::vector<uint32_t>{0xfff310ef});
  CHECK(f.real.get(xapic::lvt_timer) == 0x000300ef);
  CHECK(f.page.get(xapic::lvt_timer) == 0x000300ef);  // read back
  f.check_hardware_owned();
  CHECK(f.real.get(xapic::tpr) == 0x50);
  CHECK(f.threshold() == 5);
  CHECK(f.vmcs.written(VmcsField::tpr_threshold));
  CHECK(f.real.writes_to(xapic::icr_high).empty());
}

TEST_CASE("VirtualApic: APIC write at any byte of a register, LDR reaching the topology") {
  VapicFixture f;
  f.page.set(xapic::ldr, 0x80ffffff);
  CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::ldr + 3)) == Outcome::resume);
  CHECK(f.real.writes_to(xapic::ldr) == std::vector<uint32_t>{0x80ffffff});
  CHECK(f.page.get(xapic::ldr) == 0x80000000);
  CHECK(f.topo.logical_id[0] == 0x80);
}

TEST_CASE("VirtualApic: APIC write of ICR low sends with the page's ICR high") {
  VapicFixture f;
  f.page.set(xapic::icr_high, 0x05000000);  // the guest's destination (its write did not exit)
  f.real.set(xapic::icr_high, 0x07000000);  // stale
  SECTION("fixed IPI") {
    f.page.set(xapic::icr_low, 0x000050fd);
    CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::icr_low)) == Outcome::resume);
    REQUIRE(!f.real.writes.empty());
    CHECK(f.real.writes.front() == Access{xapic::icr_high, 0x05000000});
    CHECK(f.real.writes_to(xapic::icr_low) == std::vector<uint32_t>{0x000050fd});
    // The last ICR high write before the sending ICR low write is the guest's.
    unsigned last_high = 0;
    for (const Access& w : f.real.writes) {
      if (w.offset == xapic::icr_high) last_high = w.value;
      if (w.offset == xapic::icr_low) CHECK(last_high == 0x05000000);
    }
    for (uint32_t v : f.real.writes_to(xapic::icr_high)) CHECK(v != 0x07000000);
    CHECK(f.page.get(xapic::icr_low) == 0x000040fd);  // delivery status idle
  }
  SECTION("INIT to a virtualized CPU: posted, the real ICR high ends as the guest's") {
    f.page.set(xapic::icr_low, 0x0000c500);
    CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::icr_low)) == Outcome::resume);
    ApEvent e{};
    REQUIRE(f.targets.box[1].take(&e));
    CHECK(e.kind == ApEvent::Kind::init);
    CHECK(f.real.writes_to(xapic::icr_low) == std::vector<uint32_t>{0x400});  // the wake-up NMI only
    CHECK(f.real.get(xapic::icr_high) == 0x05000000);
    CHECK(f.page.get(xapic::icr_low) == 0x0000c500);
  }
}

TEST_CASE("VirtualApic: APIC write of the TPR only synchronises it") {
  VapicFixture f;
  f.page.set(xapic::tpr, 0x40);
  f.real.set(xapic::tpr, 0x90);
  CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::tpr)) == Outcome::resume);
  CHECK(f.real.writes == std::vector<Access>{{xapic::tpr, 0x40}});
  CHECK(f.threshold() == 4);
}

TEST_CASE("VirtualApic: APIC exits without a page, before init, or with a failing VMWRITE stop") {
  VapicFixture f;
  SECTION("no virtual-APIC page") {
    f.vcpu.vapic = nullptr;
    CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::lvt_timer)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.apic_access(f.ctx, xapic::ppr, false)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.tpr_below_threshold(f.ctx)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 3)) == Outcome::stop);
    CHECK(f.real.writes.empty());
    CHECK(f.emu.calls == 0);
  }
  SECTION("VirtualApic never initialised") {
    VirtualApic none;
    CHECK_FALSE(none.ready());
    CHECK(outcome_of(none.apic_write(f.ctx, xapic::lvt_timer)) == Outcome::stop);
    CHECK(outcome_of(none.apic_access(f.ctx, xapic::ppr, false)) == Outcome::stop);
    CHECK(outcome_of(none.tpr_below_threshold(f.ctx)) == Outcome::stop);
    CHECK(none.read_cr8(f.ctx) == 0);
  }
  SECTION("VMWRITE of the TPR threshold fails") {
    f.vmcs.fail_writes(VmcsField::tpr_threshold);
    CHECK(outcome_of(f.vapic.apic_write(f.ctx, xapic::lvt_timer)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.apic_access(f.ctx, xapic::ppr, false)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.tpr_below_threshold(f.ctx)) == Outcome::stop);
    CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 3)) == Outcome::stop);
  }
}

TEST_CASE("VirtualApic: APIC access is emulated at base + offset") {
  VapicFixture f;
  f.set_hardware_owned();
  f.page.set(xapic::tpr, 0x60);
  f.real.set(xapic::tpr, 0x60);
  SECTION("read: no ICR high write, the emulator's action returned") {
    f.emu.result = ExitAction::advance();
    const ExitAction a = f.vapic.apic_access(f.ctx, xapic::ppr, false);
    CHECK(outcome_of(a) == Outcome::advance);
    CHECK(f.emu.calls == 1);
    CHECK(f.emu.last_gpa == 0xfee000a0);
    CHECK(f.emu.last_ctx == &f.ctx);
    CHECK(f.real.writes.empty());
    f.check_hardware_owned();
    CHECK(f.threshold() == 6);
  }
  SECTION("write: the page's ICR high reaches the real APIC first, the register is read back") {
    f.page.set(xapic::icr_high, 0x03000000);
    f.real.set(xapic::icr_high, 0x01000000);
    f.emu.writes = true;
    f.emu.write_offset = xapic::ldr;
    f.emu.write_value = 0xabcdef12;
    f.emu.result = ExitAction::gp0();
    const ExitAction a = f.vapic.apic_access(f.ctx, xapic::ldr + 1, true);  // a byte write
    CHECK(outcome_of(a) == Outcome::gp);
    CHECK(f.emu.calls == 1);
    CHECK(f.emu.last_gpa == 0xfee000d1);
    CHECK(f.emu.icr_high_seen == 0x03000000);
    CHECK(f.real.writes.front() == Access{xapic::icr_high, 0x03000000});
    CHECK(f.page.get(xapic::ldr) == 0xab000000);
    f.check_hardware_owned();
  }
  SECTION("no emulator: stop") {
    VirtualApic v;
    v.init(0xfee00000, &f.real, &f.topo, &f.targets, nullptr);
    CHECK(outcome_of(v.apic_access(f.ctx, xapic::ppr, false)) == Outcome::stop);
  }
}

TEST_CASE("VirtualApic: TPR below threshold synchronises the real TPR from the page") {
  VapicFixture f;
  f.set_hardware_owned();
  f.page.set(xapic::tpr, 0x10);
  f.real.set(xapic::tpr, 0x40);
  f.vmcs.set(VmcsField::tpr_threshold, 4);
  CHECK(outcome_of(f.vapic.tpr_below_threshold(f.ctx)) == Outcome::resume);
  CHECK(f.real.writes == std::vector<Access>{{xapic::tpr, 0x10}});
  CHECK(f.threshold() == 1);
  f.check_hardware_owned();
}

TEST_CASE("VirtualApic: MOV to and from CR8") {
  VapicFixture f;
  f.page.set(xapic::tpr, 0x9f);
  f.real.set(xapic::tpr, 0x9f);
  SECTION("MOV to CR8 3: TPR 0x30 on the page and in the APIC, threshold 3") {
    CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 3)) == Outcome::advance);
    CHECK(f.page.get(xapic::tpr) == 0x30);
    CHECK(f.real.get(xapic::tpr) == 0x30);
    CHECK(f.real.writes == std::vector<Access>{{xapic::tpr, 0x30}});
    CHECK(f.threshold() == 3);
  }
  SECTION("MOV to CR8 0: TPR 0") {
    CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 0)) == Outcome::advance);
    CHECK(f.page.get(xapic::tpr) == 0);
    CHECK(f.real.get(xapic::tpr) == 0);
    CHECK(f.threshold() == 0);
  }
  SECTION("reserved bits: #GP(0), nothing changes") {
    for (uint64_t v : {0x10ull, 0x8000000000000000ull, 0x13ull}) {
      CAPTURE(v);
      CHECK(outcome_of(f.vapic.write_cr8(f.ctx, v)) == Outcome::gp);
    }
    CHECK(f.page.get(xapic::tpr) == 0x9f);
    CHECK(f.real.writes.empty());
    CHECK_FALSE(f.vmcs.written(VmcsField::tpr_threshold));
  }
  SECTION("MOV from CR8: the real TPR's class") {
    f.page.set(xapic::tpr, 0x7c);
    f.real.set(xapic::tpr, 0x7c);
    CHECK(f.vapic.read_cr8(f.ctx) == 7);
    f.page.set(xapic::tpr, 0xff);
    f.real.set(xapic::tpr, 0xff);
    CHECK(f.vapic.read_cr8(f.ctx) == 0xf);
  }
  SECTION("MOV from CR8 after a TPR raised through the page (no exit yet): synced first") {
    f.page.set(xapic::tpr, 0xb0);
    f.real.set(xapic::tpr, 0x10);
    CHECK(f.vapic.read_cr8(f.ctx) == 0xb);
    CHECK(f.real.get(xapic::tpr) == 0xb0);
    CHECK(f.threshold() == 0xb);
  }
}

TEST_CASE("VirtualApic: CR8 in x2APIC mode goes to the TPR MSR, never the xAPIC page") {
  VapicFixture f;
  f.host.set_msr(static_cast<uint32_t>(arch::Msr::IA32_APIC_BASE), 0xfee00000 | (1u << 11) | (1u << 10));
  f.host.set_msr(static_cast<uint32_t>(arch::Msr::IA32_X2APIC_TPR), 0x40);
  CHECK(f.vapic.read_cr8(f.ctx) == 4);
  CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 9)) == Outcome::advance);
  CHECK(f.host.msr(static_cast<uint32_t>(arch::Msr::IA32_X2APIC_TPR)) == 0x90);
  CHECK(f.threshold() == 9);
  CHECK(f.real.writes.empty());
  CHECK(f.vapic.read_cr8(f.ctx) == 9);
  SECTION("a failing WRMSR stops the guest CPU") {
    f.host.set_msr(static_cast<uint32_t>(arch::Msr::IA32_X2APIC_TPR), 0, true);
    CHECK(outcome_of(f.vapic.write_cr8(f.ctx, 2)) == Outcome::stop);
  }
}

TEST_CASE("set_virtual_apic / virtual_apic") {
  VirtualApic v;
  vmm::apic::set_virtual_apic(&v);
  CHECK(vmm::apic::virtual_apic() == &v);
  vmm::apic::set_virtual_apic(nullptr);
  CHECK(vmm::apic::virtual_apic() == nullptr);
}
