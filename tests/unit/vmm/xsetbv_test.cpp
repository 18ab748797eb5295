// validate_xsetbv: one row per rule (vmm/policy/xsetbv.hpp; SDM Vol 1 13.3, Vol 2B XSETBV).
#include <catch.hpp>

#include <cstring>

#include "policy_hosts.hpp"
#include "vmm/policy/xsetbv.hpp"

using namespace policy_test;
using V = XsetbvVerdict;

namespace {
constexpr uint64_t kBase = xcr0::X87 | xcr0::SSE | xcr0::AVX;
}

TEST_CASE("XSETBV operands: index from ECX, value from EDX:EAX, high halves ignored") {
  struct Row {
    uint64_t rcx, rdx, rax;
    uint32_t index;
    uint64_t value;
  };
  const Row rows[] = {
      {0, 0, 7, 0, 7},
      {0xffffffff00000000ull, 0, 7, 0, 7},  // RCX high bits: still XCR0 (ACRN #3360)
      {0x100000001ull, 0, 7, 1, 7},
      {0, 0xdead000000000000ull, 0xbeef000000080007ull, 0, 0x80007},
      {0, 0x1, 0x3, 0, 0x100000003ull},
  };
  for (const auto& r : rows) {
    CAPTURE(r.rcx, r.rdx, r.rax);
    const XsetbvOperands op = xsetbv_operands(r.rcx, r.rdx, r.rax);
    CHECK(op.index == r.index);
    CHECK(op.value == r.value);
  }
}

TEST_CASE("XSETBV verdicts") {
  const uint64_t apx_server = kApxServerXcr0;                       // APX exposed
  const uint64_t apx_hidden = kApxServerXcr0 & ~xcr0::APX;          // APX hidden by config
  const uint64_t skylake = kSkylakeXcr0;                            // MPX, no PKRU
  const uint64_t bogus_apx_mpx = kApxSmallXcr0 | xcr0::MPX;         // a mask the policy never makes
  struct Row {
    const char* what;
    uint64_t supported;
    uint32_t index;
    uint64_t value;
    bool osxsave;
    uint8_t cpl;
    V verdict;
  };
  const Row rows[] = {
      // valid values
      {"x87 only", apx_server, 0, xcr0::X87, true, 0, V::ok},
      {"x87+SSE", apx_server, 0, xcr0::X87 | xcr0::SSE, true, 0, V::ok},
      {"x87+SSE+AVX", apx_server, 0, kBase, true, 0, V::ok},
      {"AVX-512", apx_server, 0, kBase | xcr0::AVX512, true, 0, V::ok},
      {"PKRU", apx_server, 0, kBase | xcr0::PKRU, true, 0, V::ok},
      {"AMX pair", apx_server, 0, kBase | xcr0::AMX, true, 0, V::ok},
      {"APX", apx_server, 0, kBase | xcr0::APX, true, 0, V::ok},
      {"APX without AVX", apx_server, 0, xcr0::X87 | xcr0::APX, true, 0, V::ok},
      {"everything offered", apx_server, 0, apx_server, true, 0, V::ok},
      {"MPX pair on Skylake", skylake, 0, kBase | xcr0::MPX, true, 0, V::ok},
      // faults before the checks proper
      {"CR4.OSXSAVE=0", apx_server, 0, kBase, false, 0, V::ud_osxsave_clear},
      {"CPL 3", apx_server, 0, kBase, true, 3, V::gp_cpl_not_zero},
      {"ECX=1 (XINUSE is read-only)", apx_server, 1, kBase, true, 0, V::gp_index_not_zero},
      {"ECX=0x80000000", apx_server, 0x80000000u, kBase, true, 0, V::gp_index_not_zero},
      // bit 0
      {"zero", apx_server, 0, 0, true, 0, V::gp_x87_clear},
      {"SSE+AVX without x87", apx_server, 0, xcr0::SSE | xcr0::AVX, true, 0, V::gp_x87_clear},
      // reserved and unsupported bits
      {"bit 8 (PT, supervisor)", apx_server, 0, kBase | (1ull << 8), true, 0, V::gp_reserved_bit},
      {"bit 11 (CET_U, supervisor)", apx_server, 0, kBase | (1ull << 11), true, 0, V::gp_reserved_bit},
      {"bit 20", apx_server, 0, kBase | (1ull << 20), true, 0, V::gp_reserved_bit},
      {"bit 32 (EDX=1)", apx_server, 0, kBase | (1ull << 32), true, 0, V::gp_reserved_bit},
      {"bit 63", apx_server, 0, kBase | (1ull << 63), true, 0, V::gp_reserved_bit},
      {"APX while hidden", apx_hidden, 0, kBase | xcr0::APX, true, 0, V::gp_unsupported_component},
      {"PKRU on Skylake", skylake, 0, kBase | xcr0::PKRU, true, 0, V::gp_unsupported_component},
      {"MPX on the APX server", apx_server, 0, kBase | xcr0::MPX, true, 0, V::gp_unsupported_component},
      {"AVX-512 on Skylake", skylake, 0, kBase | xcr0::AVX512, true, 0, V::gp_unsupported_component},
      // dependencies
      {"AVX without SSE", apx_server, 0, xcr0::X87 | xcr0::AVX, true, 0, V::gp_avx_without_sse},
      {"opmask alone", apx_server, 0, kBase | xcr0::OPMASK, true, 0, V::gp_avx512_partial},
      {"ZMM_Hi256 alone", apx_server, 0, kBase | xcr0::ZMM_HI256, true, 0, V::gp_avx512_partial},
      {"Hi16_ZMM alone", apx_server, 0, kBase | xcr0::HI16_ZMM, true, 0, V::gp_avx512_partial},
      {"AVX-512 minus Hi16_ZMM", apx_server, 0, kBase | xcr0::OPMASK | xcr0::ZMM_HI256, true, 0, V::gp_avx512_partial},
      {"AVX-512 without AVX", apx_server, 0, xcr0::X87 | xcr0::SSE | xcr0::AVX512, true, 0, V::gp_avx512_without_avx},
      {"AVX-512 without AVX or SSE", apx_server, 0, xcr0::X87 | xcr0::AVX512, true, 0, V::gp_avx512_without_avx},
      {"BNDREGS alone", skylake, 0, kBase | xcr0::BNDREGS, true, 0, V::gp_mpx_partial},
      {"BNDCSR alone", skylake, 0, kBase | xcr0::BNDCSR, true, 0, V::gp_mpx_partial},
      {"XTILECFG alone", apx_server, 0, kBase | xcr0::XTILECFG, true, 0, V::gp_amx_partial},
      {"XTILEDATA alone", apx_server, 0, kBase | xcr0::XTILEDATA, true, 0, V::gp_amx_partial},
      // APX never with MPX, even if a (wrong) mask offered both
      {"APX + both MPX bits", bogus_apx_mpx, 0, kBase | xcr0::APX | xcr0::MPX, true, 0, V::gp_apx_with_mpx},
      {"APX + BNDREGS", bogus_apx_mpx, 0, kBase | xcr0::APX | xcr0::BNDREGS, true, 0, V::gp_apx_with_mpx},
      {"APX + BNDCSR", bogus_apx_mpx, 0, kBase | xcr0::APX | xcr0::BNDCSR, true, 0, V::gp_apx_with_mpx},
      {"MPX alone on that mask", bogus_apx_mpx, 0, kBase | xcr0::MPX, true, 0, V::ok},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what, xsetbv_verdict_name(r.verdict));
    const V got = validate_xsetbv(r.index, r.value, XsetbvContext{r.supported, r.osxsave, r.cpl});
    CHECK(xsetbv_verdict_name(got) == std::string(xsetbv_verdict_name(r.verdict)));
    const uint8_t vector = r.verdict == V::ok ? 0 : r.verdict == V::ud_osxsave_clear ? 6 : 13;
    CHECK(xsetbv_verdict_vector(got) == vector);
  }
}

TEST_CASE("every XSETBV verdict has a name and a text") {
  for (unsigned v = 0; v <= static_cast<unsigned>(V::gp_amx_partial); ++v) {
    CAPTURE(v);
    CHECK(std::strlen(xsetbv_verdict_name(static_cast<V>(v))) > 1);
    CHECK(std::strlen(xsetbv_verdict_text(static_cast<V>(v))) >= 5);
  }
}
