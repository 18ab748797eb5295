// The guest's virtual MTRRs (vmm/ept/virtual_mtrrs.hpp, vmm/handlers/mtrr_write.hpp): WRMSR is
// checked as hardware checks it (SDM Vol 3A 12.11, one row per rule), RDMSR returns what was
// written, the hardware MTRRs are never read or written after boot, a write that leaves
// IA32_MTRR_DEF_TYPE.E set re-types the EPT from the virtual state, and a re-type that runs
// out of table pages maps the large page UC instead of failing.
#include <vector>

#include "ept_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/virtual_mtrrs.hpp"
#include "vmm/handlers/mtrr_write.hpp"
#include "vmm/msr_policy.hpp"

using namespace vmm_test;
using ept_test::MsrFile;
using ept_test::MtrrLayout;
using vmm::ept::EptIdentityMap;
using vmm::ept::EptStatus;
using vmm::ept::MemoryType;
using vmm::ept::MtrrSnapshot;
using vmm::ept::VirtualMtrrs;
using vmx::ExitReason;

namespace {

constexpr uint64_t kE = 1ull << 11, kFE = 1ull << 10;
constexpr uint64_t K4 = 0x1000, M2 = 0x200000, G1 = 0x40000000;
constexpr uint8_t UC = 0, WC = 1, WT = 4, WP = 5, WB = 6;

// The CPUs the rows run on. All but `no_mtrr` have CPUID.1:EDX.MTRR.
enum class Cpu {
  full,     // VCNT 10, FIX, WC; MAXPHYADDR 39
  no_wc,    // as full without MTRRCAP.WC
  no_fix,   // as full without MTRRCAP.FIX (no fixed-range MSRs)
  vcnt2,    // two variable pairs
  phys46,   // MAXPHYADDR 46
  no_mtrr,  // CPUID.1:EDX.MTRR = 0: no MTRR MSR at all, IA32_MTRRCAP included
};

MtrrLayout layout(Cpu c) {
  MtrrLayout l(WB, true, true, c == Cpu::vcnt2 ? 2 : 10, c != Cpu::no_fix, c == Cpu::phys46 ? 46 : 39);
  if (c == Cpu::no_wc) l.file.msrs[ept_test::kMtrrCap] &= ~(1ull << 10);
  l.var(0, 0xc0000000, G1, UC).fixed(0xa0000, 0xc0000, UC);
  return l;
}

MtrrSnapshot snapshot(Cpu c) {
  MtrrLayout l = layout(c);
  return vmm::ept::load_mtrrs(&MsrFile::read, &l.file, c != Cpu::no_mtrr, l.max_phys_bits);
}

const char* cpu_name(Cpu c) {
  switch (c) {
    case Cpu::full: return "full";
    case Cpu::no_wc: return "no WC";
    case Cpu::no_fix: return "no FIX";
    case Cpu::vcnt2: return "VCNT 2";
    case Cpu::phys46: return "MAXPHYADDR 46";
    case Cpu::no_mtrr: return "no MTRRs";
  }
  return "?";
}

}  // namespace

TEST_CASE("virtual MTRRs: WRMSR is validated as hardware validates it (SDM Vol 3A 12.11)") {
  struct Row {
    const char* what;
    Cpu cpu;
    uint32_t msr;
    uint64_t value;
    bool accepted;  // false: #GP(0)
  };
  const Row rows[] = {
      // IA32_MTRR_DEF_TYPE (Figure 12-6): type in 7:0, FE 10, E 11, the rest reserved.
      {"DEF_TYPE: WB, FE, E", Cpu::full, 0x2ff, kE | kFE | WB, true},
      {"DEF_TYPE: all clear (UC, disabled)", Cpu::full, 0x2ff, 0, true},
      {"DEF_TYPE: WT default", Cpu::full, 0x2ff, kE | WT, true},
      {"DEF_TYPE: WP default", Cpu::full, 0x2ff, kE | WP, true},
      {"DEF_TYPE: WC default with MTRRCAP.WC", Cpu::full, 0x2ff, kE | WC, true},
      {"DEF_TYPE: WC default without MTRRCAP.WC", Cpu::no_wc, 0x2ff, kE | WC, false},
      {"DEF_TYPE: type 2 (reserved)", Cpu::full, 0x2ff, kE | 2, false},
      {"DEF_TYPE: type 3 (reserved)", Cpu::full, 0x2ff, kE | 3, false},
      {"DEF_TYPE: type 7 (reserved)", Cpu::full, 0x2ff, kE | 7, false},
      {"DEF_TYPE: type 0x86 (reserved)", Cpu::full, 0x2ff, kE | 0x86, false},
      {"DEF_TYPE: reserved bit 8", Cpu::full, 0x2ff, kE | (1ull << 8) | WB, false},
      {"DEF_TYPE: reserved bit 9", Cpu::full, 0x2ff, kE | (1ull << 9) | WB, false},
      {"DEF_TYPE: reserved bit 12", Cpu::full, 0x2ff, kE | (1ull << 12) | WB, false},
      {"DEF_TYPE: reserved bit 32", Cpu::full, 0x2ff, kE | (1ull << 32) | WB, false},
      {"DEF_TYPE: reserved bit 63", Cpu::full, 0x2ff, kE | (1ull << 63) | WB, false},
      // Fixed ranges (12.11.2.2): eight type bytes; the MSRs exist only with MTRRCAP.FIX.
      {"FIX64K_00000: all WB", Cpu::full, 0x250, 0x0606060606060606, true},
      {"FIX4K_C0000: every defined type", Cpu::full, 0x268, 0x0001040506000104, true},
      {"FIX16K_A0000: all UC", Cpu::full, 0x259, 0, true},
      {"FIX4K_F8000: type 2 in byte 7", Cpu::full, 0x26f, 0x0206060606060606, false},
      {"FIX4K_F8000: type 7 in byte 0", Cpu::full, 0x26f, 0x0606060606060607, false},
      {"FIX16K_80000: type 0x80 in byte 3", Cpu::full, 0x258, 0x0606060680060606, false},
      {"FIX4K_D0000: type 3 in byte 4", Cpu::full, 0x26a, 0x0606060306060606, false},
      {"FIX64K_00000: WC without MTRRCAP.WC", Cpu::no_wc, 0x250, 0x0606060606060601, false},
      {"FIX64K_00000: WC with MTRRCAP.WC", Cpu::full, 0x250, 0x0606060606060601, true},
      {"FIX64K_00000 without MTRRCAP.FIX", Cpu::no_fix, 0x250, 0x0606060606060606, false},
      {"FIX16K_A0000 without MTRRCAP.FIX", Cpu::no_fix, 0x259, 0, false},
      {"FIX4K_F8000 without MTRRCAP.FIX", Cpu::no_fix, 0x26f, 0x0505050505050505, false},
      // IA32_MTRR_PHYSBASEn (Figure 12-7): type 7:0, 11:8 reserved, base MAXPHYADDR-1:12.
      {"PHYSBASE0: 2 GiB WB", Cpu::full, 0x200, 0x80000000 | WB, true},
      {"PHYSBASE1: UC", Cpu::full, 0x202, 0x80000000 | UC, true},
      {"PHYSBASE1: WC with MTRRCAP.WC", Cpu::full, 0x202, 0x80000000 | WC, true},
      {"PHYSBASE1: WC without MTRRCAP.WC", Cpu::no_wc, 0x202, 0x80000000 | WC, false},
      {"PHYSBASE1: type 2", Cpu::full, 0x202, 0x80000000 | 2, false},
      {"PHYSBASE1: type 0xff", Cpu::full, 0x202, 0x80000000 | 0xff, false},
      {"PHYSBASE1: reserved bit 8", Cpu::full, 0x202, 0x80000100 | WB, false},
      {"PHYSBASE1: reserved bit 11", Cpu::full, 0x202, 0x80000800 | WB, false},
      {"PHYSBASE1: bit 38, below MAXPHYADDR 39", Cpu::full, 0x202, (1ull << 38) | WB, true},
      {"PHYSBASE1: bit 39, at MAXPHYADDR 39", Cpu::full, 0x202, (1ull << 39) | WB, false},
      {"PHYSBASE1: bit 63", Cpu::full, 0x202, (1ull << 63) | WB, false},
      {"PHYSBASE1: bit 45, below MAXPHYADDR 46", Cpu::phys46, 0x202, (1ull << 45) | WB, true},
      {"PHYSBASE1: bit 46, at MAXPHYADDR 46", Cpu::phys46, 0x202, (1ull << 46) | WB, false},
      // IA32_MTRR_PHYSMASKn (Figure 12-7): 10:0 reserved, V 11, mask MAXPHYADDR-1:12.
      {"PHYSMASK1: 512 MiB, valid", Cpu::full, 0x203, 0x7fe0000800, true},
      {"PHYSMASK1: all clear (free pair)", Cpu::full, 0x203, 0, true},
      {"PHYSMASK1: reserved bit 0", Cpu::full, 0x203, 0x7fe0000801, false},
      {"PHYSMASK1: reserved bit 10", Cpu::full, 0x203, 0x7fe0000c00, false},
      {"PHYSMASK1: bit 39, at MAXPHYADDR 39", Cpu::full, 0x203, 0xffe0000800, false},
      {"PHYSMASK1: bit 45, below MAXPHYADDR 46", Cpu::phys46, 0x203, 0x3fffe0000800, true},
      {"PHYSMASK1: bit 46, at MAXPHYADDR 46", Cpu::phys46, 0x203, 0x7fffe0000800, false},
      // Pairs exist below VCNT only (12.11.1).
      {"PHYSMASK9: the last of 10 pairs", Cpu::full, 0x213, 0x7fe0000800, true},
      {"PHYSBASE10: pair 10 of 10", Cpu::full, 0x214, 0x80000000 | WB, false},
      {"PHYSMASK1: the last of 2 pairs", Cpu::vcnt2, 0x203, 0x7fe0000800, true},
      {"PHYSBASE2: pair 2 of 2", Cpu::vcnt2, 0x204, 0x80000000 | WB, false},
      {"PHYSMASK39: pair 39 of 2", Cpu::vcnt2, 0x24f, 0, false},
      // IA32_MTRRCAP is read-only (Figure 12-5).
      {"MTRRCAP: its own value", Cpu::full, 0xfe, 0x50a, false},
      {"MTRRCAP: zero", Cpu::full, 0xfe, 0, false},
      // Without CPUID.1:EDX.MTRR there is no MTRR MSR (12.11.1).
      {"no MTRRs: DEF_TYPE", Cpu::no_mtrr, 0x2ff, 0, false},
      {"no MTRRs: FIX64K_00000", Cpu::no_mtrr, 0x250, 0, false},
      {"no MTRRs: PHYSBASE0", Cpu::no_mtrr, 0x200, 0, false},
      {"no MTRRs: MTRRCAP", Cpu::no_mtrr, 0xfe, 0, false},
      // Not an MTRR at all.
      {"IA32_APIC_BASE is not an MTRR", Cpu::full, 0x1b, 0xfee00900, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what, cpu_name(r.cpu));
    const MtrrSnapshot m = snapshot(r.cpu);
    CHECK(vmm::ept::mtrr_write_valid(m, r.msr, r.value) == r.accepted);
    // The same answer through the state, which keeps the old value when it refuses.
    VirtualMtrrs v;
    v.init(m);
    uint64_t before = 0xdead;
    const bool existed = v.read(r.msr, &before);
    const VirtualMtrrs::WriteResult w = v.write(r.msr, r.value);
    CHECK(w.accepted == r.accepted);
    uint64_t after = 0xbeef;
    CHECK(v.read(r.msr, &after) == existed);
    if (existed) CHECK(after == (r.accepted ? r.value : before));
  }
}

TEST_CASE("virtual MTRRs: which MSRs a CPU has (RDMSR of one it lacks is #GP)") {
  struct Row {
    Cpu cpu;
    uint32_t msr;
    bool exists;
  };
  const Row rows[] = {
      {Cpu::full, 0xfe, true},     {Cpu::full, 0x2ff, true},    {Cpu::full, 0x250, true},
      {Cpu::full, 0x258, true},    {Cpu::full, 0x26f, true},    {Cpu::full, 0x200, true},
      {Cpu::full, 0x213, true},    {Cpu::full, 0x214, false},   {Cpu::full, 0x24f, false},
      {Cpu::vcnt2, 0x203, true},   {Cpu::vcnt2, 0x204, false},  {Cpu::vcnt2, 0x205, false},
      {Cpu::no_fix, 0x2ff, true},  {Cpu::no_fix, 0x250, false}, {Cpu::no_fix, 0x259, false},
      {Cpu::no_fix, 0x26c, false}, {Cpu::no_fix, 0x200, true},  {Cpu::no_mtrr, 0xfe, false},
      {Cpu::no_mtrr, 0x2ff, false}, {Cpu::no_mtrr, 0x200, false}, {Cpu::no_mtrr, 0x250, false},
      {Cpu::full, 0x1b, false},    {Cpu::full, 0x251, false},   {Cpu::full, 0x2fe, false},
  };
  for (const Row& r : rows) {
    CAPTURE(cpu_name(r.cpu), r.msr);
    const MtrrSnapshot m = snapshot(r.cpu);
    CHECK(vmm::ept::mtrr_msr_exists(m, r.msr) == r.exists);
    VirtualMtrrs v;
    v.init(m);
    uint64_t value = 0;
    CHECK(v.read(r.msr, &value) == r.exists);
  }
}

TEST_CASE("virtual MTRRs: MTRRCAP.VCNT says how many pairs the state holds") {
  MtrrSnapshot m = snapshot(Cpu::full);
  uint64_t cap = 0;
  VirtualMtrrs v;
  v.init(m);
  REQUIRE(v.read(0xfe, &cap));
  CHECK(cap == (10 | (1ull << 8) | (1ull << 10)));
  // A CPU announcing more pairs than fit below 0x250 (none exists): VCNT reads as those kept.
  m.cap = 48 | (1ull << 8);
  m.variable_count = vmm::ept::kMaxVariableMtrrs;
  m.variable_truncated = true;
  v.init(m);
  REQUIRE(v.read(0xfe, &cap));
  CHECK(cap == (vmm::ept::kMaxVariableMtrrs | (1ull << 8)));
  uint64_t value = 0;
  CHECK(v.read(0x24f, &value));  // pair 39 exists
  // Not initialised: a CPU without MTRRs.
  VirtualMtrrs none;
  CHECK_FALSE(none.read(0xfe, &value));
  CHECK_FALSE(none.read(0x2ff, &value));
  CHECK_FALSE(none.write(0x2ff, 0).accepted);
}

namespace {

// Hardware MTRR values in the fake CPU that differ from the virtual ones, so that a read or a
// write reaching the hardware would show.
constexpr uint64_t kHwDefType = kE | kFE | UC, kHwBase0 = 0x80000000 | WT, kHwMask0 = 0x7fc0000800;

struct VirtualMtrrFixture : HandlerFixture {
  VirtualMtrrs mtrrs;
  explicit VirtualMtrrFixture(Cpu cpu = Cpu::full) {
    mtrrs.init(snapshot(cpu));
    vmm::set_virtual_mtrrs(&mtrrs);
    host.set_msr(0xfe, 0x50a, true);
    host.set_msr(0x2ff, kHwDefType);
    host.set_msr(0x200, kHwBase0);
    host.set_msr(0x201, kHwMask0);
    host.set_msr(0x250, 0);
  }
  ~VirtualMtrrFixture() {
    vmm::set_virtual_mtrrs(nullptr);
    vmm::set_mtrr_write_observer(nullptr);
  }
  Outcome rdmsr(uint32_t msr, uint64_t* value) {
    gpr(arch::Gpr::rcx) = msr;
    gpr(arch::Gpr::rax) = 0xa5a5a5a5a5a5a5a5ull;
    gpr(arch::Gpr::rdx) = 0xa5a5a5a5a5a5a5a5ull;
    const Outcome o = outcome_of(exit(ExitReason::rdmsr));
    *value = (gpr(arch::Gpr::rdx) << 32) | (gpr(arch::Gpr::rax) & 0xffffffff);
    vmcs.set(vmx::VmcsField::guest_rip, 0x1000);
    vmcs.set(vmx::VmcsField::vm_entry_interruption_info, 0);
    return o;
  }
  Outcome wrmsr(uint32_t msr, uint64_t value) {
    gpr(arch::Gpr::rcx) = msr;
    gpr(arch::Gpr::rdx) = value >> 32;
    gpr(arch::Gpr::rax) = value & 0xffffffff;
    const Outcome o = outcome_of(exit(ExitReason::wrmsr));
    vmcs.set(vmx::VmcsField::guest_rip, 0x1000);
    vmcs.set(vmx::VmcsField::vm_entry_interruption_info, 0);
    return o;
  }
  void check_hardware_untouched() {
    CHECK(host.rdmsr_calls == 0);
    CHECK(host.wrmsr_calls == 0);
    CHECK(host.msr(0x2ff) == kHwDefType);
    CHECK(host.msr(0x200) == kHwBase0);
    CHECK(host.msr(0x201) == kHwMask0);
    CHECK(host.msr(0x250) == 0);
  }
};

struct RecordingObserver final : vmm::MtrrWriteObserver {
  unsigned calls = 0;
  VirtualMtrrs* seen = nullptr;
  uint64_t def_type_seen = 0;
  void mtrrs_changed(vmm::ExitContext&, VirtualMtrrs& mtrrs) override {
    ++calls;
    seen = &mtrrs;
    def_type_seen = mtrrs.snapshot().def_type;
  }
};

}  // namespace

TEST_CASE("RDMSR of the MTRRs: the virtual values (the boot CPU's), never the hardware's") {
  VirtualMtrrFixture f;
  const MtrrSnapshot boot = snapshot(Cpu::full);
  struct Row {
    uint32_t msr;
    uint64_t value;
  };
  const Row rows[] = {
      {0xfe, 10 | (1ull << 8) | (1ull << 10)},
      {0x2ff, boot.def_type},
      {0x200, boot.variable[0].base},
      {0x201, boot.variable[0].mask},
      {0x213, 0},
      {0x250, boot.fixed[0]},
      {0x259, boot.fixed[2]},
      {0x26f, boot.fixed[10]},
  };
  for (const Row& r : rows) {
    CAPTURE(r.msr);
    uint64_t got = 0;
    CHECK(f.rdmsr(r.msr, &got) == Outcome::advance);
    CHECK(got == r.value);
  }
  CHECK(boot.variable[0].base == (0xc0000000 | UC));  // differs from the fake hardware's
  for (uint32_t missing : {0x214u, 0x24fu}) {
    CAPTURE(missing);
    uint64_t got = 0;
    CHECK(f.rdmsr(missing, &got) == Outcome::gp);
  }
  f.check_hardware_untouched();
}

TEST_CASE("WRMSR of the MTRRs: stored in the virtual state, read back, the hardware MTRRs keep the firmware's") {
  struct Row {
    const char* what;
    uint32_t msr;
    uint64_t value;
    Outcome outcome;
  };
  const Row rows[] = {
      {"DEF_TYPE: disable", 0x2ff, kFE | WB, Outcome::advance},
      {"PHYSBASE1: 2 MiB UC at 1 GiB", 0x202, 0x40000000 | UC, Outcome::advance},
      {"PHYSMASK1: 2 MiB, valid", 0x203, 0x7fffe00800, Outcome::advance},
      {"PHYSMASK9", 0x213, 0x7fe0000800, Outcome::advance},
      {"FIX64K_00000", 0x250, 0x0505050505050505, Outcome::advance},
      {"FIX4K_C8000", 0x269, 0x0001040506000104, Outcome::advance},
      {"DEF_TYPE: enable", 0x2ff, kE | kFE | WB, Outcome::advance},
      {"PHYSBASE1: reserved bit 8", 0x202, 0x40000100 | WB, Outcome::gp},
      {"PHYSMASK1: reserved bit 3", 0x203, 0x7fffe00808, Outcome::gp},
      {"FIX4K_F0000: type 2", 0x26e, 0x0606060606020606, Outcome::gp},
      {"DEF_TYPE: reserved bit 9", 0x2ff, kE | (1ull << 9) | WB, Outcome::gp},
      {"PHYSBASE10: no such pair", 0x214, WB, Outcome::gp},
      {"MTRRCAP: read-only", 0xfe, 0x50a, Outcome::gp},
  };
  VirtualMtrrFixture f;
  for (const Row& r : rows) {
    CAPTURE(r.what);
    uint64_t before = 0;
    const Outcome read_before = f.rdmsr(r.msr, &before);
    CHECK(f.wrmsr(r.msr, r.value) == r.outcome);
    uint64_t after = 0;
    CHECK(f.rdmsr(r.msr, &after) == read_before);
    if (read_before == Outcome::advance) CHECK(after == (r.outcome == Outcome::advance ? r.value : before));
  }
  f.check_hardware_untouched();
  // The #GP is injected as the hardware's would be.
  CHECK(outcome_of(vmm::handle_mtrr_write(f.ctx, 0x2ff, 1ull << 20)) == Outcome::gp);
}

TEST_CASE("WRMSR of an MTRR: the observer runs when the write leaves the virtual MTRRs enabled") {
  struct Row {
    const char* what;
    uint64_t def_type_before;
    uint32_t msr;
    uint64_t value;
    Outcome outcome;
    unsigned observer_calls;
  };
  const Row rows[] = {
      {"DEF_TYPE: enable (the last step of an OS's MTRR update)", WB, 0x2ff, kE | WB, Outcome::advance, 1},
      {"DEF_TYPE: disable (the first step): no re-type", kE | WB, 0x2ff, WB, Outcome::advance, 0},
      {"PHYSBASE0 while disabled: no re-type", WB, 0x200, 0x80000000, Outcome::advance, 0},
      {"PHYSMASK7 while enabled: re-type", kE | WB, 0x20f, 0x7fff800800, Outcome::advance, 1},
      {"FIX64K_00000 while enabled: re-type", kE | kFE | WB, 0x250, 0x0606060606060606, Outcome::advance, 1},
      {"FIX16K_A0000 while enabled: re-type", kE | kFE | WB, 0x259, 0, Outcome::advance, 1},
      {"FIX4K_F8000 while enabled: re-type", kE | kFE | WB, 0x26f, 0x0505050505050505, Outcome::advance, 1},
      {"a pair the CPU lacks: #GP, no re-type", kE | WB, 0x214, 0, Outcome::gp, 0},
      {"reserved DEF_TYPE bits: #GP, no re-type", WB, 0x2ff, kE | WB | (1ull << 20), Outcome::gp, 0},
      {"undefined type while enabled: #GP, no re-type", kE | WB, 0x200, 0x80000002, Outcome::gp, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    VirtualMtrrFixture f;
    RecordingObserver obs;
    REQUIRE(f.mtrrs.write(0x2ff, r.def_type_before).accepted);
    vmm::set_mtrr_write_observer(&obs);
    CHECK(f.wrmsr(r.msr, r.value) == r.outcome);
    CHECK(obs.calls == r.observer_calls);
    if (obs.calls) {
      CHECK(obs.seen == &f.mtrrs);
      CHECK((obs.def_type_seen & kE) != 0);
    }
    f.check_hardware_untouched();
  }
  SECTION("no virtual MTRRs (nothing set at boot): every access #GP, the hardware untouched") {
    VirtualMtrrFixture f;
    vmm::set_virtual_mtrrs(nullptr);
    uint64_t value = 0;
    CHECK(f.rdmsr(0x2ff, &value) == Outcome::gp);
    CHECK(f.rdmsr(0xfe, &value) == Outcome::gp);
    CHECK(f.wrmsr(0x2ff, kE | WB) == Outcome::gp);
    f.check_hardware_untouched();
  }
}

TEST_CASE("MTRR MSRs and IA32_MTRRCAP: reads and writes exit; is_mtrr_msr matches SDM Table 12-9 and the pairs") {
  uint8_t bitmap[4096] = {};
  vmm::build_msr_bitmap(bitmap);
  const uint32_t mtrrs[] = {0x200, 0x201, 0x21e, 0x21f, 0x24f, 0x250, 0x258, 0x259, 0x268, 0x26c, 0x26f, 0x2ff};
  for (uint32_t m : mtrrs) {
    CAPTURE(m);
    CHECK(vmm::ept::is_mtrr_msr(m));
    CHECK(vmm::is_virtual_mtrr_msr(m));
    CHECK(vmm::msr_bitmap_exits(bitmap, m, true));
    CHECK(vmm::msr_bitmap_exits(bitmap, m, false));
  }
  CHECK(vmm::is_virtual_mtrr_msr(0xfe));
  CHECK(vmm::msr_bitmap_exits(bitmap, 0xfe, false));
  CHECK(vmm::msr_bitmap_exits(bitmap, 0xfe, true));
  const uint32_t others[] = {0x1ff, 0x251, 0x257, 0x25a, 0x267, 0x270, 0x277, 0x2fe, 0x300, 0xfe};
  for (uint32_t m : others) {
    CAPTURE(m);
    CHECK_FALSE(vmm::ept::is_mtrr_msr(m));
    CHECK(vmm::is_virtual_mtrr_msr(m) == (m == 0xfe));
  }
}

// ---- the EPT follows the virtual MTRRs ------------------------------------------------------
namespace {

vmm::ept::EptFeatures large_pages() {
  vmm::ept::EptFeatures f;
  f.pages_1g = true;
  f.pages_2m = true;
  return f;
}

struct Probe {
  uint64_t gpa;
  MemoryType type;
  uint64_t page_size;
};

void check_probes(const EptIdentityMap& ept, const std::vector<Probe>& probes) {
  for (const Probe& p : probes) {
    CAPTURE(p.gpa);
    const vmm::ept::EptTranslation t = ept.translate(p.gpa);
    REQUIRE(t.mapped);
    CHECK(t.type == p.type);
    CHECK(t.page_size == p.page_size);
    CHECK(t.hpa == p.gpa);
  }
}

// The image's observer without INVEPT and the log: re-type from the virtual state.
struct RetypingObserver final : vmm::MtrrWriteObserver {
  EptIdentityMap* ept = nullptr;
  std::vector<vmm::ept::MtrrRetype> done;
  void mtrrs_changed(vmm::ExitContext&, VirtualMtrrs& mtrrs) override {
    done.push_back(vmm::ept::retype_from_virtual(*ept, mtrrs));
  }
};

// An OS's MTRR update (SDM Vol 3A 12.11.7.2): disable, write the pair, enable.
void set_pair(VirtualMtrrFixture& f, unsigned n, uint64_t base, uint64_t mask) {
  uint64_t def = 0;
  REQUIRE(f.rdmsr(0x2ff, &def) == Outcome::advance);
  REQUIRE(f.wrmsr(0x2ff, def & ~kE) == Outcome::advance);
  REQUIRE(f.wrmsr(0x200 + 2 * n, base) == Outcome::advance);
  REQUIRE(f.wrmsr(0x201 + 2 * n, mask) == Outcome::advance);
  REQUIRE(f.wrmsr(0x2ff, def | kE) == Outcome::advance);
}

constexpr uint64_t mask_of(uint64_t size) { return (~(size - 1) & 0x7ffffff000ull) | (1ull << 11); }

}  // namespace

TEST_CASE("a write that leaves E set re-types the EPT from the virtual MTRRs, not from the hardware") {
  VirtualMtrrFixture f;
  ept_test::FakePageAllocator pages;
  EptIdentityMap ept(pages);
  REQUIRE(ept.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
  RetypingObserver obs;
  obs.ept = &ept;
  vmm::set_mtrr_write_observer(&obs);
  check_probes(ept, {{0x40000000, MemoryType::wb, G1}, {0xc0000000, MemoryType::uc, G1}});

  // 2 MiB at 1 GiB become UC: the 1 GiB page is split, one 2 MiB leaf re-typed.
  set_pair(f, 1, 0x40000000 | UC, mask_of(M2));
  REQUIRE(obs.done.size() == 1);
  CHECK(obs.done[0].status == EptStatus::ok);
  CHECK(obs.done[0].fresh);
  CHECK(obs.done[0].result.splits == 1);
  CHECK(obs.done[0].result.changed_leaves == 1);
  CHECK(obs.done[0].result.changed_bytes == M2);
  CHECK(obs.done[0].result.uc_fallback_bytes == 0);
  check_probes(ept, {{0x40000000, MemoryType::uc, M2}, {0x401ff000, MemoryType::uc, M2},
                     {0x40200000, MemoryType::wb, M2}, {0x80000000, MemoryType::wb, G1}});

  // Another CPU rewrites the same values (SDM 12.11.8): nothing new, nothing changes.
  set_pair(f, 1, 0x40000000 | UC, mask_of(M2));
  REQUIRE(obs.done.size() == 2);
  CHECK_FALSE(obs.done[1].fresh);
  CHECK(obs.done[1].result.changed_leaves == 0);
  CHECK(obs.done[1].result.splits == 0);

  // While another CPU has cleared E in the shared state, a re-type still uses the ranges
  // enabled, as the writing CPU left them.
  REQUIRE(f.wrmsr(0x203, 0) == Outcome::advance);          // pair 1 freed, E still set: re-type
  REQUIRE(obs.done.size() == 3);
  check_probes(ept, {{0x40000000, MemoryType::wb, M2}});
  REQUIRE(f.mtrrs.write(0x2ff, kFE | WB).accepted);         // "another CPU" disables
  REQUIRE(f.mtrrs.write(0x203, mask_of(M2)).accepted);      // and sets pair 1 again
  auto again = vmm::ept::retype_from_virtual(ept, f.mtrrs);  // this CPU's re-type meanwhile
  CHECK(again.status == EptStatus::ok);
  check_probes(ept, {{0x40000000, MemoryType::uc, M2}, {0x00000000, MemoryType::wb, K4}});

  // The hardware MTRRs were neither read nor written, and the types never came from them
  // (there 2 GiB-3 GiB is WT and the default UC).
  f.check_hardware_untouched();
  check_probes(ept, {{0x80000000, MemoryType::wb, G1}, {0x40200000, MemoryType::wb, M2}});
}

TEST_CASE("re-type out of table pages: the large page becomes UC, the re-type goes on and counts it") {
  // How many pages the build takes, then the same build with an allocator that has no more.
  size_t build_pages = 0;
  {
    ept_test::FakePageAllocator counting;
    EptIdentityMap probe(counting);
    REQUIRE(probe.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
    build_pages = counting.allocated();
  }
  SECTION("no page at all: a 1 GiB page that needs a split becomes UC, whole") {
    VirtualMtrrFixture f;
    ept_test::FakePageAllocator pages(build_pages);
    EptIdentityMap ept(pages);
    REQUIRE(ept.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
    RetypingObserver obs;
    obs.ept = &ept;
    vmm::set_mtrr_write_observer(&obs);
    set_pair(f, 1, 0x40000000 | WT, mask_of(M2));
    REQUIRE(obs.done.size() == 1);
    const auto& r = obs.done[0];
    CHECK(r.status == EptStatus::ok);
    CHECK(r.result.splits == 0);
    CHECK(r.result.uc_fallback_bytes == G1);
    CHECK(r.result.changed_leaves == 1);
    CHECK(r.result.changed_bytes == G1);
    check_probes(ept, {{0x40000000, MemoryType::uc, G1}, {0x7ffff000, MemoryType::uc, G1},
                       {0x80000000, MemoryType::wb, G1}, {0xc0000000, MemoryType::uc, G1}});
    CHECK(pages.allocated() == build_pages);
    // The range removed: the page is uniform again and gets its type back.
    set_pair(f, 1, 0, 0);
    REQUIRE(obs.done.size() == 2);
    CHECK(obs.done[1].result.uc_fallback_bytes == 0);
    check_probes(ept, {{0x40000000, MemoryType::wb, G1}});
  }
  SECTION("one page: the 1 GiB split succeeds, the 2 MiB page that needs 4 KiB pages becomes UC") {
    VirtualMtrrFixture f;
    ept_test::FakePageAllocator pages(build_pages + 1);
    EptIdentityMap ept(pages);
    REQUIRE(ept.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
    RetypingObserver obs;
    obs.ept = &ept;
    vmm::set_mtrr_write_observer(&obs);
    set_pair(f, 1, 0x40000000 | WT, mask_of(K4));  // one 4 KiB page WT
    REQUIRE(obs.done.size() == 1);
    const auto& r = obs.done[0];
    CHECK(r.status == EptStatus::ok);
    CHECK(r.result.splits == 1);
    CHECK(r.result.uc_fallback_bytes == M2);
    check_probes(ept, {{0x40000000, MemoryType::uc, M2}, {0x40001000, MemoryType::uc, M2},
                       {0x40200000, MemoryType::wb, M2}, {0x7fe00000, MemoryType::wb, M2}});
    CHECK(pages.allocated() == build_pages + 1);
    // A second change elsewhere, still no page: counted again, once per re-type.
    set_pair(f, 2, 0x80000000 | WC, mask_of(M2));
    REQUIRE(obs.done.size() == 2);
    CHECK(obs.done[1].status == EptStatus::ok);
    CHECK(obs.done[1].result.uc_fallback_bytes == M2 + G1);
    check_probes(ept, {{0x80000000, MemoryType::uc, G1}, {0x40000000, MemoryType::uc, M2}});
  }
}

// The walk is skipped when the virtual MTRRs are what the tables were last typed from: the
// proof is a map changed behind the state's back, which a walk would type back and a skip
// leaves as it is.
TEST_CASE("MTRR re-type: no walk while the virtual MTRRs are unchanged since the last one") {
  VirtualMtrrFixture f;
  ept_test::FakePageAllocator pages;
  EptIdentityMap ept(pages);
  REQUIRE(ept.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
  // The boot state, from which the tables were built: nothing to walk.
  vmm::ept::MtrrRetype r = vmm::ept::retype_from_virtual(ept, f.mtrrs);
  CHECK(r.skipped);
  CHECK_FALSE(r.fresh);
  // Tables typed otherwise behind the state's back (a stand-in for "already typed").
  vmm::ept::MtrrSnapshot other = snapshot(Cpu::full);
  other.def_type = (other.def_type & ~0xffull) | UC;
  for (auto& v : other.variable) v.mask = 0;
  REQUIRE(ept.retype(other) == EptStatus::ok);
  check_probes(ept, {{0x40000000, MemoryType::uc, G1}});
  // Only E toggled (an OS's disable-write-enable with the same values): still no walk.
  uint64_t def = 0;
  REQUIRE(f.rdmsr(0x2ff, &def) == Outcome::advance);
  REQUIRE(f.mtrrs.write(0x2ff, def & ~kE).accepted);
  REQUIRE(f.mtrrs.write(0x2ff, def).accepted);
  r = vmm::ept::retype_from_virtual(ept, f.mtrrs);
  CHECK(r.skipped);
  check_probes(ept, {{0x40000000, MemoryType::uc, G1}});
  // A value changed: the walk runs and types every leaf from the virtual state again.
  set_pair(f, 1, 0x40000000 | UC, mask_of(M2));
  r = vmm::ept::retype_from_virtual(ept, f.mtrrs);
  CHECK_FALSE(r.skipped);
  CHECK(r.fresh);
  check_probes(ept, {{0x40000000, MemoryType::uc, M2}, {0x40200000, MemoryType::wb, M2}, {0x80000000, MemoryType::wb, G1}});
  // And once more with nothing new: skipped.
  CHECK(vmm::ept::retype_from_virtual(ept, f.mtrrs).skipped);
}

TEST_CASE("MTRR re-type: MTRRs off at boot, the first re-type with E set walks") {
  vmm::ept::MtrrSnapshot off = snapshot(Cpu::full);
  off.def_type &= ~kE;
  VirtualMtrrs mtrrs;
  mtrrs.init(off);
  ept_test::FakePageAllocator pages;
  EptIdentityMap ept(pages);
  REQUIRE(ept.build_identity(off, 4 * G1, large_pages()) == EptStatus::ok);
  const vmm::ept::MtrrRetype r = vmm::ept::retype_from_virtual(ept, mtrrs);
  CHECK_FALSE(r.skipped);
  CHECK(r.fresh);
}

// The live map's table pages are shared by the write monitor, MTRR re-typing and the
// on-demand map, each with a reserved share (vmm/ept/pool_shares.hpp): one user exhausting
// its share leaves the others theirs.
TEST_CASE("EPT table pool: a user that spent its share cannot starve the others") {
  using vmm::ept::PoolUser;
  using vmm::ept::PoolUserScope;
  using vmm::ept::kPoolShare;
  ept_test::FakePageAllocator pages;  // unbounded: only the shares limit
  EptIdentityMap ept(pages);
  REQUIRE(ept.build_identity(snapshot(Cpu::full), 4 * G1, large_pages()) == EptStatus::ok);
  // The monitor protects one 4 KiB page in each 2 MiB region from 1 GiB up: a split each.
  unsigned refused_at = 0;
  {
    PoolUserScope user(ept, PoolUser::monitor);
    for (unsigned i = 0; i < 1000 && !refused_at; ++i)
      if (ept.set_permissions(G1 + i * M2, K4, true, false, true) == EptStatus::out_of_memory) refused_at = i;
  }
  REQUIRE(refused_at != 0);
  CHECK(ept.pool_shares().taken(PoolUser::monitor) == kPoolShare[static_cast<unsigned>(PoolUser::monitor)]);
  CHECK(ept.pool_user() == PoolUser::boot);  // the scope restored it
  // The others still get pages: a re-type splits (no UC fallback) ...
  {
    PoolUserScope user(ept, PoolUser::mtrr);
    vmm::ept::MtrrSnapshot m = snapshot(Cpu::full);
    m.variable[1] = {0x80000000ull | UC, mask_of(M2)};  // 2 MiB UC in the WB 1 GiB page at 2 GiB
    vmm::ept::EptIdentityMap::RetypeResult r;
    REQUIRE(ept.retype(m, &r) == EptStatus::ok);
    CHECK(r.splits >= 1);
    CHECK(r.uc_fallback_bytes == 0);
  }
  CHECK(ept.pool_shares().taken(PoolUser::mtrr) >= 1);
  // ... and the on-demand user's tables too.
  {
    PoolUserScope user(ept, PoolUser::on_demand);
    CHECK(ept.set_permissions(2 * G1 + 500 * M2, K4, true, false, true) == EptStatus::ok);
  }
  // The monitor stays refused; its refusal changed nothing.
  {
    PoolUserScope user(ept, PoolUser::monitor);
    CHECK(ept.set_permissions(3 * G1 + 300 * M2, K4, true, false, true) == EptStatus::out_of_memory);
  }
  CHECK(ept.translate(3 * G1 + 300 * M2).w);
  // The shares add up to the pool boot/virtualize.cpp reserves (64, and 64 more on demand).
  CHECK(kPoolShare[1] + kPoolShare[2] + kPoolShare[4] == 64);
  CHECK(kPoolShare[3] == 64);
}
