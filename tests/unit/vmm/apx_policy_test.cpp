// ApxPolicy: when guests get APX, and the guest-supported XCR0 that follows (vmm/policy/apx_policy.hpp).
#include <catch.hpp>

#include "policy_hosts.hpp"

using namespace policy_test;

TEST_CASE("APX exposure: one row per host and config") {
  struct Row {
    const char* what;
    bool apx_f;
    uint64_t host_xcr0;
    ApxConfig config;
    bool exposed;
    ApxReason reason;
    uint64_t guest_xcr0;
  };
  const Row rows[] = {
      {"APX server, auto", true, kApxServerXcr0, ApxConfig::auto_detect, true, ApxReason::exposed, kApxServerXcr0},
      {"APX server, off", true, kApxServerXcr0, ApxConfig::off, false, ApxReason::off_by_config,
       kApxServerXcr0 & ~xcr0::APX},
      {"APX_F but XCR0 cannot hold bit 19", true, kApxServerXcr0 & ~xcr0::APX, ApxConfig::auto_detect, false,
       ApxReason::host_lacks_xcr0_apx, kApxServerXcr0 & ~xcr0::APX},
      {"XCR0 bit 19 but no APX_F", false, kApxServerXcr0, ApxConfig::auto_detect, false, ApxReason::host_lacks_apx_f,
       kApxServerXcr0 & ~xcr0::APX},
      {"Skylake, auto: MPX stays", false, kSkylakeXcr0, ApxConfig::auto_detect, false, ApxReason::host_lacks_apx_f,
       kSkylakeXcr0},
      {"Skylake, off: config named first", false, kSkylakeXcr0, ApxConfig::off, false, ApxReason::off_by_config,
       kSkylakeXcr0},
      {"APX and MPX, auto: MPX hidden", true, kApxAndMpxXcr0, ApxConfig::auto_detect, true, ApxReason::exposed,
       kApxAndMpxXcr0 & ~xcr0::MPX},
      {"APX and MPX, off: MPX stays", true, kApxAndMpxXcr0, ApxConfig::off, false, ApxReason::off_by_config,
       kApxAndMpxXcr0 & ~xcr0::APX},
      {"unknown components (PT bit 8, bit 20, bit 40) dropped", true,
       kApxSmallXcr0 | (1ull << 8) | (1ull << 20) | (1ull << 40), ApxConfig::auto_detect, true, ApxReason::exposed,
       kApxSmallXcr0},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    const ApxPolicy p = decide_apx_policy(host(r.apx_f, r.host_xcr0), r.config);
    CHECK(p.expose_apx == r.exposed);
    CHECK(p.reason == r.reason);
    CHECK(p.guest_supported_xcr0 == r.guest_xcr0);
    // The invariant (KVM selftest ASSERT_XFEATURE_CONFLICT): never APX next to MPX state.
    CHECK_FALSE(((p.guest_supported_xcr0 & xcr0::APX) && (p.guest_supported_xcr0 & xcr0::MPX)));
    CHECK(((p.guest_supported_xcr0 & xcr0::APX) != 0) == p.expose_apx);
    CHECK(apx_reason_text(p.reason)[0] != '?');
  }
}
