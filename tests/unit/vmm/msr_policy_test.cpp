// The MSR policy table (vmm/msr_policy.def), walked row by row: rows do not overlap, each
// says why, the bitmap follows each row, and the MSRs that must never reach the hardware
// (they make it write memory, change how the host runs, or ask an outer hypervisor to write
// a page) are refused. The handler's answer for each action is in msr_handler_test.cpp.
#include <catch.hpp>

#include <cstring>

#include "vmm/msr_policy.hpp"

using vmm::MsrAction;

namespace {

bool in_bitmap(uint32_t msr) { return msr < 0x2000 || (msr >= 0xc0000000 && msr < 0xc0002000); }

}  // namespace

TEST_CASE("MSR policy: every row has a reason, a forward range, and no overlap with another") {
  unsigned n = 0;
  const vmm::MsrRule* rules = vmm::msr_rules(&n);
  REQUIRE(n >= 10);
  for (unsigned i = 0; i < n; ++i) {
    CAPTURE(i, rules[i].first, rules[i].last);
    CHECK(rules[i].first <= rules[i].last);
    REQUIRE(rules[i].why != nullptr);
    CHECK(std::strlen(rules[i].why) > 20);
    CHECK(rules[i].read != MsrAction::discard);  // a read needs an answer
    CHECK_FALSE((rules[i].read == MsrAction::pass && rules[i].write == MsrAction::pass));  // then why a row
    for (unsigned j = i + 1; j < n; ++j) {
      CAPTURE(j, rules[j].first, rules[j].last);
      CHECK((rules[j].last < rules[i].first || rules[j].first > rules[i].last));
    }
  }
}

TEST_CASE("MSR policy: msr_rule and the bitmap agree with every row, at its ends and inside") {
  static uint8_t bitmap[4096];
  vmm::build_msr_bitmap(bitmap);
  unsigned n = 0;
  const vmm::MsrRule* rules = vmm::msr_rules(&n);
  for (unsigned i = 0; i < n; ++i) {
    const vmm::MsrRule& r = rules[i];
    for (uint32_t msr : {r.first, r.first + (r.last - r.first) / 2, r.last}) {
      CAPTURE(msr);
      const vmm::MsrRuleResult got = vmm::msr_rule(msr);
      CHECK(got.read == r.read);
      CHECK(got.write == r.write);
      CHECK(got.why == r.why);
      // outside the bitmap's ranges every access exits anyway
      CHECK(vmm::msr_bitmap_exits(bitmap, msr, false) == (r.read != MsrAction::pass || !in_bitmap(msr)));
      CHECK(vmm::msr_bitmap_exits(bitmap, msr, true) == (r.write != MsrAction::pass || !in_bitmap(msr)));
    }
    // just outside a row that has no neighbour there: pass-through, no exit
    if (r.last + 1 < 0x2000 && vmm::msr_rule(r.last + 1).why == nullptr) {
      CHECK_FALSE(vmm::msr_bitmap_exits(bitmap, r.last + 1, false));
      CHECK_FALSE(vmm::msr_bitmap_exits(bitmap, r.last + 1, true));
    }
  }
}

TEST_CASE("MSR policy: what a guest must never reach is refused, by intent") {
  struct Row {
    const char* what;
    uint32_t msr;
    MsrAction read, write;
  };
  const Row rows[] = {
      {"IA32_BIOS_UPDT_TRIG: no microcode load", 0x79, MsrAction::gp, MsrAction::discard},
      {"IA32_PEBS_ENABLE", 0x3f1, MsrAction::gp, MsrAction::gp},
      {"IA32_PEBS_DATA_CFG", 0x3f2, MsrAction::gp, MsrAction::gp},
      {"IA32_PEBS_BASE (architectural PEBS, a physical buffer)", 0x3f4, MsrAction::gp, MsrAction::gp},
      {"IA32_PEBS_INDEX", 0x3f5, MsrAction::gp, MsrAction::gp},
      {"MSR_KVM_WALL_CLOCK (legacy kvmclock)", 0x11, MsrAction::gp, MsrAction::gp},
      {"MSR_KVM_SYSTEM_TIME (legacy kvmclock)", 0x12, MsrAction::gp, MsrAction::gp},
      {"IA32_HW_FEEDBACK_PTR (HFI table, a physical address)", 0x17d0, MsrAction::gp, MsrAction::gp},
      {"IA32_HW_FEEDBACK_CONFIG", 0x17d1, MsrAction::gp, MsrAction::gp},
      {"IA32_VMX_BASIC", 0x480, MsrAction::gp, MsrAction::gp},
      {"IA32_VMX_EXIT_CTLS2 (end of the VMX range)", 0x493, MsrAction::gp, MsrAction::gp},
      {"IA32_RTIT_OUTPUT_BASE", 0x560, MsrAction::gp, MsrAction::gp},
      {"IA32_RTIT_OUTPUT_MASK_PTRS", 0x561, MsrAction::gp, MsrAction::gp},
      {"IA32_RTIT_CTL", 0x570, MsrAction::gp, MsrAction::gp},
      {"IA32_RTIT_STATUS", 0x571, MsrAction::gp, MsrAction::gp},
      {"IA32_RTIT_ADDR3_B", 0x587, MsrAction::gp, MsrAction::gp},
      {"IA32_DS_AREA", 0x600, MsrAction::gp, MsrAction::gp},
      {"IA32_XSS: checked for the PT component", 0xda0, MsrAction::pass, MsrAction::emulate},
      {"Hyper-V HV_X64_MSR_GUEST_OS_ID", 0x40000000, MsrAction::gp, MsrAction::gp},
      {"Hyper-V HV_X64_MSR_HYPERCALL", 0x40000001, MsrAction::gp, MsrAction::gp},
      {"Hyper-V range end", 0x400000ff, MsrAction::gp, MsrAction::gp},
      {"KVM MSR_KVM_WALL_CLOCK_NEW", 0x4b564d00, MsrAction::gp, MsrAction::gp},
      {"KVM MSR_KVM_SYSTEM_TIME_NEW", 0x4b564d01, MsrAction::gp, MsrAction::gp},
      {"KVM range end", 0x4b564dff, MsrAction::gp, MsrAction::gp},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    const vmm::MsrRuleResult got = vmm::msr_rule(r.msr);
    CHECK(got.read == r.read);
    CHECK(got.write == r.write);
  }
  // and deliberately shared, with the reason in the table's header: no row
  for (uint32_t shared : {0x48u /* IA32_SPEC_CTRL */, 0x38fu /* IA32_PERF_GLOBAL_CTRL */, 0x40000100u, 0x4b564e00u}) {
    CAPTURE(shared);
    CHECK(vmm::msr_rule(shared).why == nullptr);
  }
}

TEST_CASE("MSR policy: the MTRRs and IA32_MTRRCAP are virtual: every access is emulated, MTRRCAP is read-only") {
  struct Row {
    const char* what;
    uint32_t msr;
    MsrAction read, write;
  };
  const Row rows[] = {
      {"IA32_MTRRCAP (read-only)", 0xfe, MsrAction::emulate, MsrAction::gp},
      {"IA32_MTRR_PHYSBASE0", 0x200, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_PHYSMASK0", 0x201, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_PHYSMASK39 (the last pair below the fixed ranges)", 0x24f, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_FIX64K_00000", 0x250, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_FIX16K_80000", 0x258, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_FIX16K_A0000", 0x259, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_FIX4K_C0000", 0x268, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_FIX4K_F8000", 0x26f, MsrAction::emulate, MsrAction::emulate},
      {"IA32_MTRR_DEF_TYPE", 0x2ff, MsrAction::emulate, MsrAction::emulate},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    const vmm::MsrRuleResult got = vmm::msr_rule(r.msr);
    CHECK(got.read == r.read);
    CHECK(got.write == r.write);
    REQUIRE(got.why != nullptr);
    CHECK(std::strstr(got.why, "virtual") != nullptr);  // the reason says where the value lives
  }
  // Between the MTRR ranges nothing is intercepted.
  for (uint32_t between : {0xffu, 0x251u, 0x257u, 0x25au, 0x267u, 0x270u, 0x2feu}) {
    CAPTURE(between);
    CHECK(vmm::msr_rule(between).why == nullptr);
  }
}

// The RDMSR fast path's table (msr_read_action, generated from the same rows at compile time)
// answers as the rows do, for every MSR of the bitmap's low range and around the table's end.
TEST_CASE("MSR policy: msr_read_action agrees with msr_rule for every MSR below 2000h and beyond") {
  unsigned emulated = 0, refused = 0;
  for (uint32_t msr = 0; msr < 0x2100; ++msr) {
    const MsrAction want = vmm::msr_rule(msr).read;
    if (vmm::msr_read_action(msr) != want) {
      CAPTURE(msr);
      CHECK(vmm::msr_read_action(msr) == want);
    }
    emulated += want == MsrAction::emulate;
    refused += want == MsrAction::gp;
  }
  for (uint32_t msr : {0x40000001u, 0x4b564d00u, 0xc0000080u, 0xdeadbeefu}) {
    CAPTURE(msr);
    CHECK(vmm::msr_read_action(msr) == vmm::msr_rule(msr).read);
  }
  CHECK(vmm::msr_read_action(0x3a) == MsrAction::emulate);  // IA32_FEATURE_CONTROL
  CHECK(emulated > 80);                                     // the MTRRs are in the table too
  CHECK(refused > 20);
}
