// apply_xcr0: the XCR0 shadow, the exit stub's "save EGPRs" flag, and what happens to
// gpr[16..31] across XCR0.APX changes (vmm/policy/xcr0_state.hpp; spec.md §3 init/re-enable).
#include <catch.hpp>

#include "vmm/policy/xcr0_state.hpp"

using namespace vmm::policy;

namespace {

constexpr uint64_t kNoApx = xcr0::X87 | xcr0::SSE | xcr0::AVX;
constexpr uint64_t kApx = kNoApx | xcr0::APX;

uint64_t legacy_value(unsigned n) { return 0x1000 + n; }
uint64_t egpr_value(unsigned n) { return 0xe000 + n; }

vmx::GprFile stale_file() {
  vmx::GprFile f;
  for (unsigned n = 0; n < 32; ++n) f.gpr[n] = n < 16 ? legacy_value(n) : 0x5ba1e000 + n;  // garbage in EGPR slots
  return f;
}

// What the exit stub would do at an exit with the flag set: the guest's R16..R31 land in the slots.
void guest_exit_saves_egprs(vmx::GprFile& f) {
  for (unsigned n = 16; n < 32; ++n) f.gpr[n] = egpr_value(n);
}

}  // namespace

TEST_CASE("XSETBV sequences: shadow, flag and EGPR slots step by step") {
  enum class Egprs { stale, zero, guest };  // expected gpr[16..31] after the step
  struct Step {
    const char* what;
    uint64_t value;
    bool exit_saved_egprs_before;  // the stub saved the guest's EGPRs at this exit (flag was set)
    uint8_t flag;
    Egprs egprs;
  };
  const Step steps[] = {
      {"OS enables AVX, APX off: flag stays clear, slots untouched", kNoApx, false, 0, Egprs::stale},
      {"first enable of bit 19: slots zeroed (KVM)", kApx, false, 1, Egprs::zero},
      {"guest uses EGPRs; an XSETBV keeping APX: no zeroing", kApx, true, 1, Egprs::guest},
      {"disable: slots keep the guest's values", kNoApx, true, 0, Egprs::guest},
      {"an XSETBV while disabled: still kept", xcr0::X87 | xcr0::SSE, false, 0, Egprs::guest},
      {"re-enable: not zeroed, restored on the next entry", kApx, false, 1, Egprs::guest},
  };
  VcpuXcr0State st;
  CHECK(st.xcr0 == xcr0::X87);  // RESET
  CHECK(st.save_egprs == 0);
  vmx::GprFile f = stale_file();
  for (const auto& s : steps) {
    CAPTURE(s.what);
    if (s.exit_saved_egprs_before) {
      REQUIRE(st.save_egprs == 1);  // the stub may only have saved them with the flag set
      guest_exit_saves_egprs(f);
    }
    apply_xcr0(st, f, s.value);
    CHECK(st.xcr0 == s.value);
    CHECK(st.save_egprs == s.flag);
    CHECK(st.save_egprs == ((st.xcr0 >> xcr0::kApxBit) & 1));  // together, always
    for (unsigned n = 0; n < 16; ++n) CHECK(f.gpr[n] == legacy_value(n));
    for (unsigned n = 16; n < 32; ++n) {
      CAPTURE(n);
      switch (s.egprs) {
        case Egprs::stale: CHECK(f.gpr[n] == 0x5ba1e000 + n); break;
        case Egprs::zero: CHECK(f.gpr[n] == 0); break;
        case Egprs::guest: CHECK(f.gpr[n] == egpr_value(n)); break;
      }
    }
  }
}

TEST_CASE("adopting the firmware's XCR0 at launch zeroes nothing") {
  struct Row {
    uint64_t xcr0;
    uint8_t flag;
  };
  const Row rows[] = {{xcr0::X87, 0}, {kNoApx, 0}, {kApx, 1}};
  for (const auto& r : rows) {
    CAPTURE(r.xcr0);
    VcpuXcr0State st;
    vmx::GprFile f = stale_file();
    for (unsigned n = 16; n < 32; ++n) f.gpr[n] = egpr_value(n);  // captured from the CPU
    adopt_launch_xcr0(st, r.xcr0);
    CHECK(st.xcr0 == r.xcr0);
    CHECK(st.save_egprs == r.flag);
    // A later XSETBV that keeps APX must not zero the captured values either.
    apply_xcr0(st, f, kApx);
    for (unsigned n = 16; n < 32; ++n) CHECK(f.gpr[n] == (r.flag ? egpr_value(n) : 0));
  }
}

// The launch reads the firmware's XCR0 whenever the CPU has one: XGETBV needs CR4.OSXSAVE=1,
// which OVMF leaves clear, while XCR0 keeps whatever was set before (a warm boot's APX).
TEST_CASE("launch: XCR0 is read whenever XSAVE exists, with CR4.OSXSAVE set just for the read") {
  struct Row {
    bool xsave, osxsave;
    bool read, set_osxsave;
  };
  const Row rows[] = {
      {false, false, false, false},  // no XCR0: the guest's is its RESET value 1
      {true, false, true, true},     // OVMF: set OSXSAVE, XGETBV, restore CR4
      {true, true, true, false},     // already set: read as it is
  };
  for (const auto& r : rows) {
    CAPTURE(r.xsave, r.osxsave);
    const LaunchXcr0Read how = launch_xcr0_read(r.xsave, r.osxsave);
    CHECK(how.read_xcr0 == r.read);
    CHECK(how.set_osxsave == r.set_osxsave);
  }
}

TEST_CASE("launch: a firmware with XCR0.APX set is adopted with its EGPRs where APX is exposed, refused where hidden") {
  struct Row {
    uint64_t xcr0;
    bool exposed;
    LaunchXcr0Verdict verdict;
  };
  const Row rows[] = {
      {xcr0::X87, true, LaunchXcr0Verdict::adopt},
      {xcr0::X87, false, LaunchXcr0Verdict::adopt},
      {kNoApx, true, LaunchXcr0Verdict::adopt},
      {kNoApx, false, LaunchXcr0Verdict::adopt},
      {kApx, true, LaunchXcr0Verdict::adopt_capture_egprs},
      {xcr0::X87 | xcr0::APX, true, LaunchXcr0Verdict::adopt_capture_egprs},
      {kApx, false, LaunchXcr0Verdict::refuse_apx_hidden},
  };
  for (const auto& r : rows) {
    CAPTURE(r.xcr0, r.exposed);
    const LaunchXcr0Verdict v = launch_xcr0_verdict(r.xcr0, r.exposed);
    CHECK(v == r.verdict);
    CHECK((launch_xcr0_refusal(v) != nullptr) == (r.verdict == LaunchXcr0Verdict::refuse_apx_hidden));
    if (v == LaunchXcr0Verdict::refuse_apx_hidden) continue;
    // Adopted: the stub's flag (which also gates the capture) is set exactly when the
    // verdict says the EGPRs are captured.
    VcpuXcr0State st;
    adopt_launch_xcr0(st, r.xcr0);
    CHECK(st.xcr0 == r.xcr0);
    CHECK((st.save_egprs != 0) == (v == LaunchXcr0Verdict::adopt_capture_egprs));
  }
}
