// Runs the exit stub's GPR macros on this host, through apx_gpr_save / apx_gpr_restore
// (vmx/asm/apx_gpr_stub.S) and the drivers in stub_driver.S.
//
//  - flag clear: every legacy GPR (RSP excepted) is stored/loaded exactly, and no EGPR
//    instruction runs: gpr[16..31] and gpr[4] keep their sentinels, and nothing faults.
//  - flag set, host without usable APX (CPUID.(7,1):EDX[21] clear, or the OS left XCR0 bit 19
//    clear): #UD -> SIGILL exactly at the first EGPR move (the *_first_egpr labels); the
//    legacy stores before it have happened.
//  - flag set, host with APX enabled: R16..R31 round-trip through restore + save.
// Prints which path ran. Exit status 0 = pass.
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "vmx/asm/apx_gpr_stub.hpp"
#include "vmx/asm/egpr_capture.hpp"

extern "C" {
void driver_save(const uint64_t* pattern, vmx::GprFile* out, const uint8_t* flag);
void driver_restore_then_save(const vmx::GprFile* in, vmx::GprFile* out, const uint8_t* flag);
void driver_restore_then_capture(const vmx::GprFile* in, vmx::GprFile* out, const uint8_t* flag);
}

namespace {

constexpr unsigned kRsp = 4, kRsi = 6, kRdi = 7;
constexpr uint64_t kSentinel = 0x5e5e5e5e5e5e5e5eull;

int failures = 0;

#define CHECK_EQ(what, got, want)                                                             \
  do {                                                                                        \
    const uint64_t g_ = (got), w_ = (want);                                                   \
    if (g_ != w_) {                                                                           \
      printf("FAIL %s: got %#llx, want %#llx\n", what, (unsigned long long)g_,                \
             (unsigned long long)w_);                                                         \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

uint64_t pattern_value(unsigned n) { return 0xc0de000000000000ull | (uint64_t(n) << 32) | (0xf00d0000u + n); }

void fill(vmx::GprFile& f, uint64_t v) {
  for (auto& g : f.gpr) g = v;
}

// --- SIGILL capture ------------------------------------------------------------------
sigjmp_buf fault_jmp;
volatile uintptr_t fault_si_addr, fault_rip;
volatile int fault_code;

void on_sigill(int, siginfo_t* si, void* uc_void) {
  auto* uc = static_cast<ucontext_t*>(uc_void);
  fault_si_addr = reinterpret_cast<uintptr_t>(si->si_addr);
  fault_rip = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  fault_code = si->si_code;
  siglongjmp(fault_jmp, 1);
}

// --- host APX detection ----------------------------------------------------------------
struct HostApx {
  bool enumerated;  // CPUID.(7,1):EDX[21]
  bool os_enabled;  // CPUID.1:ECX[27] OSXSAVE and XGETBV(0) bit 19
};

HostApx detect_apx() {
  HostApx h{};
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    if (a >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      h.enumerated = (d >> 21) & 1;
    }
  }
  __cpuid(1, a, b, c, d);
  if ((c >> 27) & 1) {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    h.os_enabled = (lo >> 19) & 1;
  }
  return h;
}

// --- the checks --------------------------------------------------------------------------
void check_legacy_saved(const char* what, const vmx::GprFile& out, const uint8_t* flag) {
  char name[96];
  for (unsigned n = 0; n < 16; ++n) {
    snprintf(name, sizeof name, "%s gpr[%u]", what, n);
    if (n == kRsp)
      CHECK_EQ(name, out.gpr[n], kSentinel);  // RSP lives in the VMCS: never written
    else if (n == kRdi)
      CHECK_EQ(name, out.gpr[n], reinterpret_cast<uintptr_t>(&out));
    else if (n == kRsi)
      CHECK_EQ(name, out.gpr[n], reinterpret_cast<uintptr_t>(flag));
    else
      CHECK_EQ(name, out.gpr[n], pattern_value(n));
  }
}

void check_egprs_untouched(const char* what, const vmx::GprFile& out) {
  char name[96];
  for (unsigned n = 16; n < 32; ++n) {
    snprintf(name, sizeof name, "%s gpr[%u] (EGPR, must stay untouched)", what, n);
    CHECK_EQ(name, out.gpr[n], kSentinel);
  }
}

void flag_clear_paths() {
  uint64_t pattern[32];
  for (unsigned n = 0; n < 32; ++n) pattern[n] = pattern_value(n);
  const uint8_t flag = 0;
  vmx::GprFile out;
  fill(out, kSentinel);
  driver_save(pattern, &out, &flag);
  check_legacy_saved("save, flag clear:", out, &flag);
  check_egprs_untouched("save, flag clear:", out);

  vmx::GprFile in;
  for (unsigned n = 0; n < 32; ++n) in.gpr[n] = pattern_value(n);
  fill(out, kSentinel);
  driver_restore_then_save(&in, &out, &flag);
  check_legacy_saved("restore+save, flag clear:", out, &flag);
  check_egprs_untouched("restore+save, flag clear:", out);
  printf("ok   flag clear: legacy GPRs saved and restored exactly, RSP and R16..R31 untouched\n");

  // The launch's capture (vmx/asm/egpr_capture.S) with the flag clear: no slot written at all.
  fill(out, kSentinel);
  apex_capture_guest_egprs(&out, &flag);
  char name[96];
  for (unsigned n = 0; n < 32; ++n) {
    snprintf(name, sizeof name, "capture, flag clear: gpr[%u] (must stay untouched)", n);
    CHECK_EQ(name, out.gpr[n], kSentinel);
  }
  printf("ok   flag clear: apex_capture_guest_egprs writes nothing and runs no EGPR move\n");
}

// Runs `body` expecting #UD at `expected`. Returns true when it faulted there.
template <typename F>
bool expect_ud_at(const char* what, const void* expected, F body) {
  fault_si_addr = 0;
  fault_rip = 0;
  if (sigsetjmp(fault_jmp, 1) == 0) {
    body();
    printf("FAIL %s: no SIGILL, but this CPU/OS cannot run EGPR instructions\n", what);
    ++failures;
    return false;
  }
  const auto want = reinterpret_cast<uintptr_t>(expected);
  CHECK_EQ(what, fault_rip, want);
  CHECK_EQ(what, fault_si_addr, want);
  if (fault_code != ILL_ILLOPN && fault_code != ILL_ILLOPC) {
    printf("FAIL %s: si_code %d is not an illegal-opcode fault\n", what, fault_code);
    ++failures;
  }
  return fault_rip == want;
}

void flag_set_without_apx() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigill;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGILL, &sa, &old);

  uint64_t pattern[32];
  for (unsigned n = 0; n < 32; ++n) pattern[n] = pattern_value(n);
  static const uint8_t flag = 1;
  static vmx::GprFile out;
  fill(out, kSentinel);
  if (expect_ud_at("save, flag set: SIGILL address", apx_gpr_save_first_egpr,
                   [&] { driver_save(pattern, &out, &flag); })) {
    // The legacy stores come before the EGPR block, so they have happened.
    check_legacy_saved("save, flag set (before the fault):", out, &flag);
    check_egprs_untouched("save, flag set (before the fault):", out);
    printf("ok   flag set: apx_gpr_save faulted with SIGILL at apx_gpr_save_first_egpr (%p)\n",
           static_cast<const void*>(apx_gpr_save_first_egpr));
  }

  static vmx::GprFile in;
  for (unsigned n = 0; n < 32; ++n) in.gpr[n] = pattern_value(n);
  if (expect_ud_at("restore, flag set: SIGILL address", apx_gpr_restore_first_egpr,
                   [&] { driver_restore_then_save(&in, &out, &flag); }))
    printf("ok   flag set: apx_gpr_restore faulted with SIGILL at apx_gpr_restore_first_egpr (%p)\n",
           static_cast<const void*>(apx_gpr_restore_first_egpr));

  fill(out, kSentinel);
  if (expect_ud_at("capture, flag set: SIGILL address", apex_capture_guest_egprs_first_egpr,
                   [&] { apex_capture_guest_egprs(&out, &flag); })) {
    check_egprs_untouched("capture, flag set (before the fault):", out);
    printf("ok   flag set: apex_capture_guest_egprs faulted with SIGILL at its first EGPR move (%p)\n",
           static_cast<const void*>(apex_capture_guest_egprs_first_egpr));
  }

  sigaction(SIGILL, &old, nullptr);
}

void flag_set_with_apx() {
  const uint8_t flag = 1;
  vmx::GprFile in, out;
  for (unsigned n = 0; n < 32; ++n) in.gpr[n] = pattern_value(n);
  fill(out, kSentinel);
  driver_restore_then_save(&in, &out, &flag);
  check_legacy_saved("restore+save, flag set:", out, &flag);
  char name[64];
  for (unsigned n = 16; n < 32; ++n) {
    snprintf(name, sizeof name, "restore+save, flag set: gpr[%u] (R%u)", n, n);
    CHECK_EQ(name, out.gpr[n], pattern_value(n));
  }
  printf("ok   flag set: R16..R31 round-trip through apx_gpr_restore + apx_gpr_save\n");

  fill(out, kSentinel);
  driver_restore_then_capture(&in, &out, &flag);
  for (unsigned n = 0; n < 32; ++n) {
    snprintf(name, sizeof name, "restore+capture, flag set: gpr[%u]", n);
    CHECK_EQ(name, out.gpr[n], n < 16 ? kSentinel : pattern_value(n));
  }
  printf("ok   flag set: apex_capture_guest_egprs stores R16..R31 and nothing else\n");
}

}  // namespace

int main() {
  const HostApx apx = detect_apx();
  printf("host: CPUID.(7,1):EDX[21] APX=%d, XCR0[19] enabled by the OS=%d\n", apx.enumerated, apx.os_enabled);
  flag_clear_paths();
  if (apx.enumerated && apx.os_enabled) {
    printf("path: APX usable -> EGPR round-trip\n");
    flag_set_with_apx();
  } else {
    printf("path: no usable APX -> the EGPR block must #UD (SIGILL) at its first move\n");
    flag_set_without_apx();
  }
  printf(failures ? "FAIL (%d)\n" : "PASS\n", failures);
  return failures ? 1 : 0;
}
