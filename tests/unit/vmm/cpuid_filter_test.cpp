// filter_cpuid: the guest's CPUID view (vmm/policy/cpuid_filter.hpp). One row per leaf/bit.
#include <catch.hpp>

#include <cstring>

#include "arch/cr_bits.hpp"
#include "policy_hosts.hpp"

using namespace policy_test;

namespace {

constexpr uint64_t kCr4Osxsave = arch::cr4::OSXSAVE, kCr4Pke = arch::cr4::PKE;
const GuestXstateView kGuest{xcr0::X87 | xcr0::SSE | xcr0::AVX, kCr4Osxsave};

enum Reg { EAX, EBX, ECX, EDX };
uint32_t reg(const CpuidRegs& r, Reg which) {
  switch (which) {
    case EAX: return r.eax;
    case EBX: return r.ebx;
    case ECX: return r.ecx;
    case EDX: return r.edx;
  }
  return 0;
}

}  // namespace

TEST_CASE("APX exposed vs hidden: every affected leaf agrees") {
  // (leaf, subleaf, register, mask) -> value with APX exposed / hidden, on an APX server.
  struct Row {
    const char* what;
    uint32_t leaf, subleaf;
    Reg r;
    uint32_t mask;
    uint32_t exposed, hidden;
  };
  const Row rows[] = {
      {"7.1:EDX[21] APX_F", 7, 1, EDX, 1u << 21, 1u << 21, 0},
      {"7.0:EAX max subleaf >= 1", 7, 0, EAX, ~0u, 1, 1},
      {"29h.0:EBX[0] APX_NCI_NDD_NF", 0x29, 0, EBX, 1u, 1, 0},
      {"29h.0:EBX other bits masked", 0x29, 0, EBX, ~1u, 0, 0},
      {"29h.0:EAX max subleaf", 0x29, 0, EAX, ~0u, 0, 0},
      {"29h.0:ECX", 0x29, 0, ECX, ~0u, 0, 0},
      {"29h.0:EDX", 0x29, 0, EDX, ~0u, 0, 0},
      {"29h.1 EBX (no such subleaf)", 0x29, 1, EBX, ~0u, 0, 0},
      {"0Dh.0:EAX[19] XCR0 may hold APX", 0xD, 0, EAX, 1u << 19, 1u << 19, 0},
      {"0Dh.0:EAX[4:3] MPX never offered", 0xD, 0, EAX, 0x18, 0, 0},
      {"0Dh.0:EAX whole mask", 0xD, 0, EAX, ~0u, uint32_t(kApxServerXcr0), uint32_t(kApxServerXcr0 & ~xcr0::APX)},
      {"0Dh.0:EDX", 0xD, 0, EDX, ~0u, 0, 0},
      {"0Dh.19:EAX APX size", 0xD, 19, EAX, ~0u, 128, 0},
      {"0Dh.19:EBX APX offset", 0xD, 19, EBX, ~0u, 960, 0},
      {"0Dh.19:ECX", 0xD, 19, ECX, ~0u, 0, 0},
      {"0Dh.0:ECX max size (AMX decides)", 0xD, 0, ECX, ~0u, 2816 + 8192, 2816 + 8192},
      {"0Dh.18:EAX XTILEDATA untouched", 0xD, 18, EAX, ~0u, 8192, 8192},
      {"1:ECX[31] hypervisor present", 1, 0, ECX, 1u << 31, 1u << 31, 1u << 31},
      {"1:ECX[5] VMX hidden", 1, 0, ECX, 1u << 5, 0, 0},
      {"1:ECX[6] SMX hidden (GETSEC #UDs)", 1, 0, ECX, 1u << 6, 0, 0},
  };
  const HostCpuInfo h = host(true, kApxServerXcr0);
  const ApxPolicy exposed = decide_apx_policy(h, ApxConfig::auto_detect);
  const ApxPolicy hidden = decide_apx_policy(h, ApxConfig::off);
  REQUIRE(exposed.expose_apx);
  REQUIRE_FALSE(hidden.expose_apx);
  for (const auto& r : rows) {
    CAPTURE(r.what);
    CHECK((reg(guest_cpuid(h, exposed, kGuest, r.leaf, r.subleaf), r.r) & r.mask) == r.exposed);
    CHECK((reg(guest_cpuid(h, hidden, kGuest, r.leaf, r.subleaf), r.r) & r.mask) == r.hidden);
  }
}

TEST_CASE("APX visibility is all-or-nothing for every host and config") {
  struct Row {
    const char* what;
    bool apx_f;
    uint64_t host_xcr0;
    ApxConfig config;
  };
  const Row rows[] = {
      {"APX server auto", true, kApxServerXcr0, ApxConfig::auto_detect},
      {"APX server off", true, kApxServerXcr0, ApxConfig::off},
      {"APX small auto", true, kApxSmallXcr0, ApxConfig::auto_detect},
      {"APX_F without XCR0 support", true, kApxSmallXcr0 & ~xcr0::APX, ApxConfig::auto_detect},
      {"XCR0 support without APX_F", false, kApxSmallXcr0, ApxConfig::auto_detect},
      {"Skylake", false, kSkylakeXcr0, ApxConfig::auto_detect},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    const HostCpuInfo h = host(r.apx_f, r.host_xcr0);
    const ApxPolicy p = decide_apx_policy(h, r.config);
    const bool seen[] = {
        (guest_cpuid(h, p, kGuest, 7, 1).edx & cpuid::kLeaf7s1EdxApxF) != 0,
        (guest_cpuid(h, p, kGuest, 0x29, 0).ebx & cpuid::kLeaf29EbxApxNciNddNf) != 0,
        (guest_cpuid(h, p, kGuest, 0xD, 0).eax & (1u << 19)) != 0,
        guest_cpuid(h, p, kGuest, 0xD, 19).eax == 128 && guest_cpuid(h, p, kGuest, 0xD, 19).ebx == 960,
    };
    for (bool s : seen) CHECK(s == p.expose_apx);
    if (!p.expose_apx) {
      const CpuidRegs sub19 = guest_cpuid(h, p, kGuest, 0xD, 19);
      CHECK((sub19.eax | sub19.ebx | sub19.ecx | sub19.edx) == 0);
    }
  }
}

TEST_CASE("0Dh.0 ECX: size of everything offered, so hiding APX can shrink it") {
  struct Row {
    const char* what;
    bool apx_f;
    uint64_t host_xcr0;
    ApxConfig config;
    uint32_t ecx;
  };
  const Row rows[] = {
      {"small APX part, exposed: APX ends at 960+128", true, kApxSmallXcr0, ApxConfig::auto_detect, 1088},
      {"small APX part, hidden: AVX ends at 576+256", true, kApxSmallXcr0, ApxConfig::off, 832},
      {"Skylake: BNDCSR ends at 1024+64", false, kSkylakeXcr0, ApxConfig::auto_detect, 1088},
      {"APX+MPX exposed: MPX hidden, APX ends at 1088", true, kApxAndMpxXcr0, ApxConfig::auto_detect, 1088},
      {"x87+SSE only: legacy area + header", false, xcr0::X87 | xcr0::SSE, ApxConfig::auto_detect, 576},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    const HostCpuInfo h = host(r.apx_f, r.host_xcr0);
    CHECK(guest_cpuid(h, decide_apx_policy(h, r.config), kGuest, 0xD, 0).ecx == r.ecx);
  }
}

TEST_CASE("0Dh.0 EBX: size for the guest's current XCR0") {
  struct Row {
    uint64_t guest_xcr0;
    uint32_t ebx;
  };
  const Row rows[] = {
      {xcr0::X87, 576},
      {xcr0::X87 | xcr0::SSE, 576},
      {xcr0::X87 | xcr0::SSE | xcr0::AVX, 832},
      {xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::APX, 1088},
      {xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::AVX512, 2688},
      {xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::AVX512 | xcr0::PKRU | xcr0::APX, 2696},
      {kApxServerXcr0, 11008},
  };
  const HostCpuInfo h = host(true, kApxServerXcr0);
  const ApxPolicy p = decide_apx_policy(h, ApxConfig::auto_detect);
  for (const auto& r : rows) {
    CAPTURE(r.guest_xcr0);
    CHECK(guest_cpuid(h, p, GuestXstateView{r.guest_xcr0, kCr4Osxsave}, 0xD, 0).ebx == r.ebx);
  }
  // A bit the guest cannot have (APX while hidden) does not count, even if the shadow had it.
  const ApxPolicy hidden = decide_apx_policy(h, ApxConfig::off);
  CHECK(guest_cpuid(h, hidden, GuestXstateView{xcr0::X87 | xcr0::SSE | xcr0::AVX | xcr0::APX, kCr4Osxsave}, 0xD, 0)
            .ebx == 832);
}

TEST_CASE("MPX: hidden in every leaf when APX is exposed, kept otherwise") {
  struct Row {
    const char* what;
    bool apx_f;
    uint64_t host_xcr0;
    ApxConfig config;
    bool mpx_visible;
  };
  const Row rows[] = {
      {"APX+MPX host, APX exposed", true, kApxAndMpxXcr0, ApxConfig::auto_detect, false},
      {"APX+MPX host, APX off", true, kApxAndMpxXcr0, ApxConfig::off, true},
      {"Skylake", false, kSkylakeXcr0, ApxConfig::auto_detect, true},
      {"APX server (no MPX at all)", true, kApxServerXcr0, ApxConfig::auto_detect, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    const HostCpuInfo h = host(r.apx_f, r.host_xcr0);
    const ApxPolicy p = decide_apx_policy(h, r.config);
    CHECK(((guest_cpuid(h, p, kGuest, 7, 0).ebx & cpuid::kLeaf7EbxMpx) != 0) == r.mpx_visible);
    CHECK(((guest_cpuid(h, p, kGuest, 0xD, 0).eax & 0x18) == 0x18) == r.mpx_visible);
    CHECK((guest_cpuid(h, p, kGuest, 0xD, 3).eax == 64) == r.mpx_visible);
    CHECK((guest_cpuid(h, p, kGuest, 0xD, 4).ebx == 1024) == r.mpx_visible);
  }
}

TEST_CASE("CR4-reflecting bits follow the guest, not the host") {
  struct Row {
    uint64_t guest_cr4;
    bool osxsave, ospke;
  };
  const Row rows[] = {{0, false, false}, {kCr4Osxsave, true, false}, {kCr4Pke, false, true}, {kCr4Osxsave | kCr4Pke, true, true}};
  const HostCpuInfo h = host(true, kApxServerXcr0);
  const ApxPolicy p = decide_apx_policy(h, ApxConfig::auto_detect);
  for (const auto& r : rows) {
    CAPTURE(r.guest_cr4);
    const GuestXstateView g{xcr0::X87, r.guest_cr4};
    CHECK(((guest_cpuid(h, p, g, 1, 0).ecx & cpuid::kLeaf1EcxOsxsave) != 0) == r.osxsave);
    CHECK(((guest_cpuid(h, p, g, 7, 0).ecx & cpuid::kLeaf7EcxOspke) != 0) == r.ospke);
    CHECK((guest_cpuid(h, p, g, 1, 0).ecx & 0x1) == 0x1);  // other bits pass through
  }
}

// The CPUID exit handler calls filter_cpuid only for the leaves cpuid_leaf_filtered() names,
// and reads the CR4 read shadow only for those cpuid_filter_reads_cr4() names: for every
// other leaf the filter must pass the host's answer through, and must not look at CR4.
TEST_CASE("the handler's shortcuts agree with the filter: cpuid_leaf_filtered, cpuid_filter_reads_cr4") {
  const HostCpuInfo h = host(true, kApxServerXcr0);
  const uint32_t leaves[] = {0,          1,          2,          4,          6,          7,          0xB,
                             0xD,        0x14,       0x1F,       0x28,       0x29,       0x2A,       0x3fffffff,
                             0x40000000, 0x40000001, 0x40000002, 0x4fffffff, 0x50000000, 0x80000000, 0x80000001,
                             0x80000008, 0xffffffff, 0x23};
  const CpuidRegs inputs[] = {{0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321},
                              {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                              {0, 0, 0, 0}};
  for (ApxConfig c : {ApxConfig::auto_detect, ApxConfig::off}) {
    const ApxPolicy p = decide_apx_policy(h, c);
    for (uint32_t leaf : leaves) {
      bool changed_some = false;
      for (uint32_t subleaf : {0u, 1u, 2u, 19u}) {
        for (const CpuidRegs& in : inputs) {
          CAPTURE(leaf, subleaf, in.eax);
          CpuidRegs none = in, all = in;
          filter_cpuid(leaf, subleaf, none, p, GuestXstateView{xcr0::X87 | xcr0::SSE, 0});
          filter_cpuid(leaf, subleaf, all, p, GuestXstateView{xcr0::X87 | xcr0::SSE, ~0ull});
          const bool cr4_matters = std::memcmp(&none, &all, sizeof none) != 0;
          if (!cpuid_filter_reads_cr4(leaf)) CHECK_FALSE(cr4_matters);
          if (subleaf == 0 && cpuid_filter_reads_cr4(leaf)) CHECK(cr4_matters);  // 1: OSXSAVE, 7.0: OSPKE
          changed_some = changed_some || std::memcmp(&in, &none, sizeof in) != 0 || cr4_matters;
          if (!cpuid_leaf_filtered(leaf)) CHECK(std::memcmp(&in, &none, sizeof in) == 0);
        }
      }
      CAPTURE(leaf);
      CHECK(changed_some == cpuid_leaf_filtered(leaf));  // a filtered leaf is changed for some input
    }
  }
}

TEST_CASE("hypervisor leaves are synthesized") {
  struct Row {
    uint32_t leaf;
    CpuidRegs want;
  };
  const auto word = [](const char* s) {
    uint32_t w;
    std::memcpy(&w, s, 4);
    return w;
  };
  const Row rows[] = {
      {0x40000000, {0x40000001, word("apex"), word("viso"), word("r\0\0\0")}},
      {0x40000001, {kHypervisorInterfaceVersion, 0, 0, 0}},
      {0x40000002, {0, 0, 0, 0}},
      {0x400000ff, {0, 0, 0, 0}},
      {0x40000100, {0, 0, 0, 0}},
      {0x4fffffff, {0, 0, 0, 0}},
  };
  const HostCpuInfo h = host(true, kApxServerXcr0);
  for (ApxConfig c : {ApxConfig::auto_detect, ApxConfig::off}) {
    const ApxPolicy p = decide_apx_policy(h, c);
    for (const auto& r : rows) {
      CAPTURE(r.leaf);
      CpuidRegs got{0xdeadbeef, 0xdeadbeef, 0xdeadbeef, 0xdeadbeef};  // whatever the host returned
      filter_cpuid(r.leaf, 0, got, p, kGuest);
      CHECK(got.eax == r.want.eax);
      CHECK(got.ebx == r.want.ebx);
      CHECK(got.ecx == r.want.ecx);
      CHECK(got.edx == r.want.edx);
    }
  }
  char sig[12];
  const CpuidRegs r = guest_cpuid(h, decide_apx_policy(h, ApxConfig::auto_detect), kGuest, 0x40000000, 0);
  std::memcpy(sig, &r.ebx, 4);
  std::memcpy(sig + 4, &r.ecx, 4);
  std::memcpy(sig + 8, &r.edx, 4);
  CHECK(std::memcmp(sig, "apexvisor\0\0\0", 12) == 0);
}

TEST_CASE("leaves the policy does not own pass through unchanged") {
  struct Row {
    uint32_t leaf, subleaf;
  };
  const Row rows[] = {{0, 0}, {2, 0}, {7, 2}, {0x80000001, 0}, {0x50000000, 0}, {0x3fffffff, 0}};
  const HostCpuInfo h = host(true, kApxServerXcr0);
  const ApxPolicy p = decide_apx_policy(h, ApxConfig::auto_detect);
  for (const auto& r : rows) {
    CAPTURE(r.leaf, r.subleaf);
    const CpuidRegs in{0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321};
    CpuidRegs out = in;
    filter_cpuid(r.leaf, r.subleaf, out, p, kGuest);
    CHECK(std::memcmp(&in, &out, sizeof in) == 0);
  }
  // A supervisor component's subleaf (ECX[0]=1) is IA32_XSS business and passes too (CET_U,
  // 11), except Intel PT's (8), which is hidden with PT.
  CpuidRegs cet{0x10, 0, cpuid::kLeafDEcxSupervisor, 0};
  filter_cpuid(0xD, 11, cet, p, kGuest);
  CHECK(cet.eax == 0x10);
  CHECK(cet.ecx == cpuid::kLeafDEcxSupervisor);
}

// Intel PT and the debug store write to memory the guest names, also while apexvisor runs:
// their MSRs #GP (vmm/msr_policy.def) and CPUID hides them, so a guest OS never tries.
TEST_CASE("Intel PT and the debug store (BTS, PEBS) are hidden in every leaf that shows them") {
  const HostCpuInfo h = host(true, kApxServerXcr0);
  for (ApxConfig c : {ApxConfig::auto_detect, ApxConfig::off}) {
    const ApxPolicy p = decide_apx_policy(h, c);
    const CpuidRegs all{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    CpuidRegs r = all;
    filter_cpuid(1, 0, r, p, kGuest);
    CHECK((r.edx & cpuid::kLeaf1EdxDs) == 0);
    CHECK((r.ecx & cpuid::kLeaf1EcxDtes64) == 0);
    CHECK((r.ecx & cpuid::kLeaf1EcxDsCpl) == 0);
    CHECK(r.edx == ~cpuid::kLeaf1EdxDs);  // nothing else in EDX
    r = all;
    filter_cpuid(7, 0, r, p, kGuest);
    CHECK((r.ebx & cpuid::kLeaf7EbxIntelPt) == 0);
    for (uint32_t leaf : {0x14u, 0x23u})
      for (uint32_t sub : {0u, 1u, 2u, 4u, 5u}) {
        r = all;
        filter_cpuid(leaf, sub, r, p, kGuest);
        CHECK((r.eax | r.ebx | r.ecx | r.edx) == 0);
      }
    r = all;
    filter_cpuid(6, 0, r, p, kGuest);
    CHECK(r.eax == ~(cpuid::kLeaf6EaxHfi | cpuid::kLeaf6EaxThreadDirector));
    CHECK((r.ebx & r.ecx & r.edx) == 0xffffffff);
    r = {0x1f, 0x240, 0x1900, 0};  // XSAVEOPT/C/XGETBV1/XSAVES; IA32_XSS may hold PT (8), CET (11, 12)
    filter_cpuid(0xD, 1, r, p, kGuest);
    CHECK(r.eax == 0x1f);
    CHECK(r.ebx == 0x240);
    CHECK(r.ecx == 0x1800);
    r = {0x80, 0, cpuid::kLeafDEcxSupervisor, 0};
    filter_cpuid(0xD, 8, r, p, kGuest);
    CHECK((r.eax | r.ebx | r.ecx | r.edx) == 0);
  }
}
