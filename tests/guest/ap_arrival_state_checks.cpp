// The part of INIT's state (SDM Vol 3A Table 10-1, column INIT) that the AP's trampoline
// records beyond its GPRs, EFLAGS and CS:IP: the control registers, EFER, DR7 and the data
// segments, each checked against the table. Shared by the INIT-SIPI-SIPI rounds
// (ap_restart_checks.cpp, both init_sipi modes) and the native path's restart of a running
// AP (ap_native_init_checks.cpp).
#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/log/format.hpp"

namespace guest {
namespace {

constexpr uint32_t kCr0AfterInit = 0x60000010;  // CD, NW, ET
constexpr uint32_t kDr7AfterInit = 0x400;       // bit 10 reads as 1
constexpr uint32_t kUnwritten = 0xa5a5a5a5;

// Four 16-bit values in one word, the first in the top bits (the check prints two values).
uint64_t pack4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
  return (uint64_t{a} << 48) | (uint64_t{b} << 32) | (uint64_t{c} << 16) | d;
}

}  // namespace

void mark_arrival_unwritten(ApTrampolineRecord& rec) {
  rec.cr0 = kUnwritten;
  rec.cr4 = kUnwritten;
  rec.cr2 = kUnwritten;
  rec.dr7 = kUnwritten;
  rec.efer_lo = kUnwritten;
  rec.efer_hi = kUnwritten;
  for (unsigned i = 0; i < 5; ++i) {
    rec.sel[i] = 0xa5a5;
    rec.probe[i] = 0xa5a5;
  }
}

void check_arrival_state(Tally& t, const ApTrampolineRecord& rec, const char* prefix, const char* suffix) {
  char name[128];
  vmm::format(name, sizeof name, "%sAP arrives with INIT's CR0=60000010H (CD NW ET) and CR4=0%s", prefix, suffix);
  t.check(rec.cr0 == kCr0AfterInit && rec.cr4 == 0, name, "cr0 0x%llx cr4 0x%llx", rec.cr0, rec.cr4);

  const uint64_t efer = (uint64_t{rec.efer_hi} << 32) | rec.efer_lo;
  const uint64_t cr2_dr7 = (uint64_t{rec.cr2} << 32) | rec.dr7;
  vmm::format(name, sizeof name, "%sAP arrives with INIT's EFER=0, CR2=0 and DR7=400H%s", prefix, suffix);
  t.check(efer == 0 && cr2_dr7 == kDr7AfterInit, name, "efer 0x%llx, cr2<<32|dr7 0x%llx", efer, cr2_dr7);

  vmm::format(name, sizeof name, "%sAP arrives with INIT's DS ES FS GS SS selectors 0%s", prefix, suffix);
  const uint64_t sel4 = pack4(rec.sel[0], rec.sel[1], rec.sel[2], rec.sel[3]);
  t.check(sel4 == 0 && rec.sel[4] == 0, name, "ds|es|fs|gs 0x%llx ss 0x%llx", sel4, rec.sel[4]);

  vmm::format(name, sizeof name, "%sAP arrives with INIT's DS ES FS GS SS bases 0 (a word read through each)%s", prefix,
              suffix);
  const uint64_t read4 = pack4(rec.probe[0], rec.probe[1], rec.probe[2], rec.probe[3]);
  const uint64_t want4 = pack4(kSegProbePattern[0], kSegProbePattern[1], kSegProbePattern[2], kSegProbePattern[3]);
  t.check(read4 == want4 && rec.probe[4] == kSegProbePattern[4], name,
          "read through ds|es|fs|gs 0x%llx ss 0x%llx (expected d501e502f5036504, 5505)", read4, rec.probe[4]);
}

}  // namespace guest
