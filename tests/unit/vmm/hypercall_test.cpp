// VMCALL (exit reason 18) and the hypercall table (vmm/hypercall.hpp): CPL 0 only, RAX =
// number, status in RAX, results in RBX/RCX/RDX/RSI/RDI; and the vCPU registry behind
// hypercall 1. One row per case.
#include <string>

#include "ept_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmm/ept/ept_builder.hpp"
#include "vmm/hypercall.hpp"
#include "vmm/code_checksum.hpp"
#include "vmm/vcpu_registry.hpp"

using namespace vmm_test;
using vmx::ExitReason;
using arch::Gpr;

namespace {

constexpr uint64_t kDecoy = 0xd0d0d0d0d0d0d0d0ull;

// A registry with CPUs 0 and 2 (CPU 1 never came up), with known counters.
struct TwoCpus {
  vmm::Vcpu cpu0{}, cpu2{};
  TwoCpus() {
    vmm::reset_vcpu_registry();
    cpu0.index = 0;
    cpu2.index = 2;
    // Totals are the counters' sums: 1000 and 55.
    cpu0.exit_counts[static_cast<unsigned>(ExitReason::cpuid)] = 700;
    cpu0.exit_counts[static_cast<unsigned>(ExitReason::rdmsr)] = 300;
    cpu2.exit_counts[static_cast<unsigned>(ExitReason::cpuid)] = 43;
    cpu2.exit_counts[static_cast<unsigned>(ExitReason::xsetbv)] = 3;
    cpu2.exit_counts[static_cast<unsigned>(ExitReason::wrmsrns_immediate)] = 9;
    REQUIRE(vmm::register_vcpu(&cpu0));
    REQUIRE(vmm::register_vcpu(&cpu2));
  }
  ~TwoCpus() { vmm::reset_vcpu_registry(); }
};

}  // namespace

TEST_CASE("hypercall table: numbers and names") {
  struct Row {
    uint64_t number;
    const char* name;
  };
  const Row rows[] = {
      {0, "version"}, {1, "exit_counter"}, {2, "read_log"}, {3, "cpu_count"}, {4, "ap_start_mode"},
      {5, "log_line"},   {6, "code_checksum"}, {7, "xsetbv_verdict"}, {8, "ept_page"}, {9, "msr_verdict"},
      {10, "single_step"}, {11, "guest_policy"}, {12, nullptr}, {15, nullptr},
      {16, "monitor_add"}, {17, "monitor_remove"},
      {18, "monitor_read_event"}, {19, "monitor_stats"}, {20, nullptr}, {0x100000000ull, nullptr},
  };
  for (const Row& r : rows) {
    CAPTURE(r.number);
    const char* n = vmm::hypercall_name(r.number);
    if (r.name) {
      REQUIRE(n != nullptr);
      CHECK(std::string(n) == r.name);
    } else {
      CHECK(n == nullptr);
    }
  }
  CHECK(vmm::kHypercallSignature == 0x78657061);  // bytes 'a' 'p' 'e' 'x'
  CHECK(vmm::kHypercallInterfaceVersion == 1);
}

TEST_CASE("VMCALL: CPL 0 only, unknown numbers #UD, nothing changes on #UD") {
  struct Row {
    const char* what;
    Mode mode;
    unsigned cpl;
    uint64_t rax;
    Outcome outcome;
  };
  const Row rows[] = {
      {"version at CPL 0", Mode::long64, 0, 0, Outcome::advance},
      {"version at CPL 3", Mode::long64, 3, 0, Outcome::ud},
      {"version at CPL 1", Mode::long64, 1, 0, Outcome::ud},
      {"number 12 (not in the table)", Mode::long64, 0, 12, Outcome::ud},
      {"number 20 (after the EPT write monitor's 16-19)", Mode::long64, 0, 20, Outcome::ud},
      {"number 0xffff", Mode::long64, 0, 0xffff, Outcome::ud},
      {"64-bit mode: RAX high bits count", Mode::long64, 0, 0x100000000ull, Outcome::ud},
      {"32-bit mode: only EAX counts", Mode::compat32, 0, 0xffffffff00000000ull, Outcome::advance},
      {"real mode (firmware, AP trampoline): CPL 0", Mode::real, 0, 3, Outcome::advance},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.set_mode(r.mode);
    f.set_cpl(r.cpl);
    for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = kDecoy + i;
    f.gpr(Gpr::rax) = r.rax;
    CHECK(outcome_of(f.exit(ExitReason::vmcall)) == r.outcome);
    if (r.outcome == Outcome::ud) {
      CHECK(f.injected() == kInjectUd);
      CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
      CHECK(f.gpr(Gpr::rax) == r.rax);
      for (unsigned i = 1; i < 32; ++i) CHECK(f.vcpu.regs.gpr[i] == kDecoy + i);
    } else {
      CHECK(f.advanced());
      CHECK(f.gpr(Gpr::rax) == 0);
    }
  }
}

TEST_CASE("hypercall 0, version: RBX = 1, RCX = 'apex', other registers kept") {
  HandlerFixture f;
  for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = kDecoy + i;
  f.gpr(Gpr::rax) = 0;
  CHECK(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
  CHECK(f.gpr(Gpr::rax) == 0);
  CHECK(f.gpr(Gpr::rbx) == 1);
  CHECK(f.gpr(Gpr::rcx) == 0x78657061);
  for (unsigned i : {2u, 4u, 5u, 6u, 7u, 8u, 15u, 16u, 31u}) CHECK(f.vcpu.regs.gpr[i] == kDecoy + i);
}

TEST_CASE("hypercall 1, exit counter of one CPU") {
  TwoCpus cpus;
  struct Row {
    const char* what;
    uint64_t cpu, reason;
    uint64_t status, rbx, rcx;
  };
  const uint64_t limit = vmx::kExitReasonLimit;
  const Row rows[] = {
      {"CPU 0, CPUID", 0, 10, 0, 700, 1000},
      {"CPU 0, a reason never seen", 0, 48, 0, 0, 1000},
      {"CPU 2, XSETBV", 2, 55, 0, 3, 55},
      {"CPU 2, the last reason", 2, limit - 1, 0, 9, 55},
      {"CPU 1 was never registered", 1, 10, 1, 1, 10},
      {"CPU 300 (beyond the registry)", 300, 10, 1, 300, 10},
      {"CPU index with high bits", 0x100000000ull, 10, 1, 0x100000000ull, 10},
      {"exit reason one past the table", 0, limit, 2, 0, limit},
      {"exit reason 0xffff", 2, 0xffff, 2, 2, 0xffff},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.gpr(Gpr::rax) = 1;
    f.gpr(Gpr::rbx) = r.cpu;
    f.gpr(Gpr::rcx) = r.reason;
    f.gpr(Gpr::rdx) = kDecoy;
    CHECK(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
    CHECK(f.gpr(Gpr::rax) == r.status);
    CHECK(f.gpr(Gpr::rbx) == r.rbx);  // on an error: the inputs, untouched
    CHECK(f.gpr(Gpr::rcx) == r.rcx);
    CHECK(f.gpr(Gpr::rdx) == kDecoy);
  }
}

TEST_CASE("hypercall 1 on the calling CPU counts the VMCALL itself") {
  vmm::reset_vcpu_registry();
  HandlerFixture f;
  f.vcpu.index = 5;
  REQUIRE(vmm::register_vcpu(&f.vcpu));
  for (int i = 0; i < 3; ++i) {
    f.gpr(Gpr::rax) = 0;
    f.exit(ExitReason::vmcall);
  }
  f.gpr(Gpr::rax) = 1;
  f.gpr(Gpr::rbx) = 5;
  f.gpr(Gpr::rcx) = static_cast<uint64_t>(ExitReason::vmcall);
  f.exit(ExitReason::vmcall);
  CHECK(f.gpr(Gpr::rax) == 0);
  CHECK(f.gpr(Gpr::rbx) == 4);
  CHECK(f.gpr(Gpr::rcx) == 4);
  vmm::reset_vcpu_registry();
}

TEST_CASE("hypercall 2, read the log ring 24 bytes at a time") {
  static vmm::Log log;  // 64 KiB ring: not on the stack
  log.set_level(vmm::LogLevel::info);
  log.log(vmm::LogLevel::info, "hello from the hypervisor, this line is long enough for three calls");
  char all[512] = {};
  const size_t total = log.read_ring(0, all, sizeof all);
  REQUIRE(total > 48);

  struct Row {
    const char* what;
    uint64_t offset;
    uint64_t count;
  };
  const Row rows[] = {
      {"first chunk", 0, 24},
      {"second chunk", 24, 24},
      {"unaligned offset", 5, 24},
      {"last bytes", total - 7, 7},
      {"at the end", total, 0},
      {"past the end", total + 1000, 0},
      {"huge offset", ~0ull, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    vmx::GprFile regs{};
    regs.gpr[0] = 2;
    regs.gpr[static_cast<unsigned>(Gpr::rbx)] = r.offset;
    regs.gpr[static_cast<unsigned>(Gpr::rdx)] = kDecoy;
    REQUIRE(vmm::run_hypercall(regs, true, log));
    CHECK(regs.gpr[0] == 0);
    CHECK(regs.gpr[static_cast<unsigned>(Gpr::rcx)] == r.count);
    CHECK(regs.gpr[static_cast<unsigned>(Gpr::rbx)] == r.offset);
    // Reassemble little-endian: RDX bytes 0-7, RSI 8-15, RDI 16-23; unused bytes zero.
    char got[24];
    const Gpr order[] = {Gpr::rdx, Gpr::rsi, Gpr::rdi};
    for (unsigned w = 0; w < 3; ++w)
      for (unsigned b = 0; b < 8; ++b)
        got[8 * w + b] = static_cast<char>(regs.gpr[static_cast<unsigned>(order[w])] >> (8 * b));
    for (unsigned i = 0; i < 24; ++i) {
      CAPTURE(i);
      CHECK(got[i] == (i < r.count ? all[r.offset + i] : 0));
    }
  }
  // The text starts as every log line does.
  CHECK(std::string(all, 11) == "apexvisor: ");
}

TEST_CASE("hypercall 2 through VMCALL reads the image's log") {
  vmm::global_log().log(vmm::LogLevel::fatal, "hypercall test line");
  char first[24] = {};
  const size_t n = vmm::global_log().read_ring(0, first, sizeof first);
  HandlerFixture f;
  f.gpr(Gpr::rax) = 2;
  f.gpr(Gpr::rbx) = 0;
  CHECK(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
  CHECK(f.gpr(Gpr::rcx) == n);
  uint64_t rdx = 0;
  for (unsigned b = 0; b < 8; ++b) rdx |= uint64_t{static_cast<uint8_t>(first[b])} << (8 * b);
  CHECK(f.gpr(Gpr::rdx) == rdx);
}

TEST_CASE("hypercall 3, CPU count") {
  vmm::reset_vcpu_registry();
  HandlerFixture f;
  f.gpr(Gpr::rax) = 3;
  f.exit(ExitReason::vmcall);
  CHECK(f.gpr(Gpr::rax) == 0);
  CHECK(f.gpr(Gpr::rbx) == 0);
  {
    TwoCpus cpus;
    f.gpr(Gpr::rax) = 3;
    f.exit(ExitReason::vmcall);
    CHECK(f.gpr(Gpr::rbx) == 2);
  }
}

TEST_CASE("vCPU registry") {
  vmm::reset_vcpu_registry();
  static vmm::Vcpu a{}, b{}, c{}, far{};
  a.index = 0;
  b.index = 0;  // same index as a
  c.index = 255;
  far.index = vmm::kMaxCpus;
  struct Row {
    const char* what;
    vmm::Vcpu* vcpu;
    bool ok;
    unsigned count_after;
  };
  const Row rows[] = {
      {"null", nullptr, false, 0},
      {"CPU 0", &a, true, 1},
      {"CPU 0 again, same vCPU: harmless", &a, true, 1},
      {"another vCPU claiming index 0", &b, false, 1},
      {"CPU 255, the last slot", &c, true, 2},
      {"index kMaxCpus", &far, false, 2},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    CHECK(vmm::register_vcpu(r.vcpu) == r.ok);
    CHECK(vmm::vcpu_count() == r.count_after);
  }
  CHECK(vmm::vcpu_by_index(0) == &a);
  CHECK(vmm::vcpu_by_index(1) == nullptr);
  CHECK(vmm::vcpu_by_index(255) == &c);
  CHECK(vmm::vcpu_by_index(256) == nullptr);
  CHECK(vmm::vcpu_by_index(~0ull) == nullptr);
  vmm::reset_vcpu_registry();
  CHECK(vmm::vcpu_count() == 0);
  CHECK(vmm::vcpu_by_index(0) == nullptr);
}

namespace {
std::string g_sink_text;
void capture_sink(void*, const char* text, size_t len) { g_sink_text.append(text, len); }

// One log_line call with `chunk` (up to 24 bytes) as RBX/RCX/RDX; returns the status.
uint64_t log_line_call(const std::string& chunk, uint64_t last) {
  HandlerFixture f;
  uint64_t w[3] = {0, 0, 0};
  for (size_t i = 0; i < chunk.size() && i < 24; ++i) w[i / 8] |= uint64_t{static_cast<uint8_t>(chunk[i])} << (8 * (i % 8));
  f.gpr(Gpr::rax) = 5;
  f.gpr(Gpr::rbx) = w[0];
  f.gpr(Gpr::rcx) = w[1];
  f.gpr(Gpr::rdx) = w[2];
  f.gpr(Gpr::rsi) = last;
  CHECK(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
  CHECK(f.gpr(Gpr::rdx) == w[2]);  // no result registers
  return f.gpr(Gpr::rax);
}
}  // namespace

// The guest side of the loader prints through the hypervisor, so its lines never interleave
// with the hypervisor's on the UART; guest-triggered, so bounded (issue P8).
TEST_CASE("hypercall 5, log_line: chunks make one line, written whole; bounded; bad flags refused") {
  vmm::Log& log = vmm::global_log();
  log.remove_all_sinks();
  REQUIRE(log.add_sink({capture_sink, nullptr}));
  g_sink_text.clear();
  const std::string line = "apexvisor: summary cpus=2 vmx_ok=2 virtualized=2 [cpu0 info]\n";
  for (size_t at = 0; at < line.size(); at += 24)
    CHECK(log_line_call(line.substr(at, 24), at + 24 >= line.size() ? 1 : 0) == 0);
  CHECK(g_sink_text == line);

  g_sink_text.clear();
  CHECK(log_line_call("x", 2) == static_cast<uint64_t>(vmm::HypercallStatus::bad_argument));
  CHECK(g_sink_text.empty());

  // a NUL ends a chunk; a line without a final newline gets one
  CHECK(log_line_call(std::string("ab\0cd", 5), 0) == 0);
  CHECK(log_line_call("ef", 1) == 0);
  CHECK(g_sink_text == "abef\n");

  // the budget: kLogLinesMax lines in all, then log_suppressed and one notice
  unsigned accepted = 2;  // the two lines above
  uint64_t status = 0;
  while ((status = log_line_call("more", 1)) == 0) ++accepted;
  CHECK(accepted == vmm::kLogLinesMax);
  CHECK(status == static_cast<uint64_t>(vmm::HypercallStatus::log_suppressed));
  CHECK(g_sink_text.find("further ones are suppressed") != std::string::npos);
  CHECK(log_line_call("more", 1) == static_cast<uint64_t>(vmm::HypercallStatus::log_suppressed));
  log.remove_all_sinks();
}

// A guest compares this with the .text of apexvisor.efi (tests/guest/attack.cpp).
TEST_CASE("hypercall 6, code_checksum: FNV-1a 64 over the registered code, its size in RCX") {
  // FNV-1a 64 reference values: "" and "a" (published test vectors of the function).
  CHECK(vmm::fnv1a64(nullptr, 0) == 0xcbf29ce484222325ull);
  const uint8_t a[] = {'a'};
  CHECK(vmm::fnv1a64(a, 1) == 0xaf63dc4c8601ec8cull);
  static uint8_t code[300];
  for (unsigned i = 0; i < sizeof code; ++i) code[i] = static_cast<uint8_t>(i * 7);
  vmm::set_hypervisor_code(code, sizeof code);
  vmx::GprFile regs{};
  regs.gpr[static_cast<unsigned>(Gpr::rax)] = 6;
  regs.gpr[static_cast<unsigned>(Gpr::rdx)] = 0x1234;
  vmm::Log log;
  REQUIRE(vmm::run_hypercall(regs, true, log));
  CHECK(regs.gpr[static_cast<unsigned>(Gpr::rax)] == 0);
  const uint64_t before = regs.gpr[static_cast<unsigned>(Gpr::rbx)];
  CHECK(before == vmm::fnv1a64(code, sizeof code));
  CHECK(regs.gpr[static_cast<unsigned>(Gpr::rcx)] == sizeof code);
  CHECK(regs.gpr[static_cast<unsigned>(Gpr::rdx)] == 0x1234);
  // One byte changed anywhere changes the answer.
  code[299] ^= 1;
  regs.gpr[static_cast<unsigned>(Gpr::rax)] = 6;
  REQUIRE(vmm::run_hypercall(regs, true, log));
  CHECK(regs.gpr[static_cast<unsigned>(Gpr::rbx)] != before);
  vmm::set_hypervisor_code(nullptr, 0);
}

// Hypercall 8, ept_page (issue P10): the leaf the guest's accesses go through, so the MTRR
// checks see the memory type, and a hidden page says so. Out of range: bad_argument.
TEST_CASE("hypercall 8, ept_page: memory type, rights, hidden, leaf size; bounded by MAXPHYADDR") {
  using namespace ept_test;
  constexpr uint64_t M2 = 0x200000, G1 = 0x40000000;
  MtrrLayout l(WB, true, true, 8, true, 39);
  l.var(0, 0xc0000000, G1, UC);
  l.var(1, 0x10000000, M2, WT);
  const vmm::ept::MtrrSnapshot m = l.snapshot();
  FakePageAllocator a;
  vmm::ept::EptIdentityMap ept(a);
  vmm::ept::EptFeatures f;
  f.pages_1g = f.pages_2m = true;
  REQUIRE(ept.build_identity(m, 4 * G1, f) == vmm::ept::EptStatus::ok);
  REQUIRE(ept.hide(0x20000000, 0x1000) == vmm::ept::EptStatus::ok);
  vmm::Log log;
  auto call = [&](uint64_t gpa, vmx::GprFile& regs) {
    regs = {};
    regs.gpr[static_cast<unsigned>(Gpr::rax)] = 8;
    regs.gpr[static_cast<unsigned>(Gpr::rbx)] = gpa;
    regs.gpr[static_cast<unsigned>(Gpr::rsi)] = kDecoy;
    REQUIRE(vmm::run_hypercall(regs, true, log));
    return regs.gpr[static_cast<unsigned>(Gpr::rax)];
  };
  vmx::GprFile regs{};
  CHECK(call(0x1000, regs) == static_cast<uint64_t>(vmm::HypercallStatus::no_ept));
  vmm::set_hypercall_ept(&ept, 1ull << 39);
  namespace F = vmm::ept_page_flag;  // (read/write would meet unistd.h's)
  constexpr uint64_t kRwx = F::mapped | F::read | F::write | F::execute;
  struct Row {
    const char* what;
    uint64_t gpa;
    uint64_t status, type, flags, size;
  };
  const Row rows[] = {
      {"WB RAM in a 1 GiB page", 0x40001000, 0, WB, kRwx, G1},
      {"UC MMIO", 0xfee00000, 0, UC, kRwx, G1},
      {"WT under a variable MTRR, 2 MiB page", 0x10000000, 0, WT, kRwx, M2},
      {"hidden hypervisor page: no rights (its type is the map's business)", 0x20000000, 0, ~0ull,
       F::mapped | F::hidden, 0x1000},
      {"above the map, below MAXPHYADDR: not mapped", 0x100000000, 0, 0, 0, 0},
      {"2^39 - 1: not mapped", (1ull << 39) - 1, 0, 0, 0, 0},
      {"2^39 (MAXPHYADDR): bad_argument", 1ull << 39, 12, kDecoy, kDecoy, kDecoy},
      {"2^64 - 1: bad_argument", ~0ull, 12, kDecoy, kDecoy, kDecoy},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    vmx::GprFile out{};
    CHECK(call(r.gpa, out) == r.status);
    if (r.status != 0) {
      CHECK(out.gpr[static_cast<unsigned>(Gpr::rbx)] == r.gpa);  // nothing written on an error
      CHECK(out.gpr[static_cast<unsigned>(Gpr::rsi)] == kDecoy);
      continue;
    }
    if (r.type != ~0ull) CHECK(out.gpr[static_cast<unsigned>(Gpr::rbx)] == r.type);
    CHECK(out.gpr[static_cast<unsigned>(Gpr::rcx)] == r.flags);
    CHECK(out.gpr[static_cast<unsigned>(Gpr::rdx)] == r.size);
    CHECK(out.gpr[static_cast<unsigned>(Gpr::rsi)] == kDecoy);
  }
  vmm::set_hypercall_ept(nullptr, 0);
}

// Hypercall 11, guest_policy: the decisions the guest cannot read elsewhere (dt_guard).
TEST_CASE("hypercall 11, guest_policy: bit 0 is the descriptor-table guard") {
  for (bool dt : {false, true}) {
    CAPTURE(dt);
    HandlerFixture f;
    f.vcpu.exit_context = &f.ctx;
    f.policy.dt_guard = dt;
    f.gpr(Gpr::rax) = 11;
    REQUIRE(outcome_of(f.exit(ExitReason::vmcall)) == Outcome::advance);
    CHECK(f.gpr(Gpr::rax) == 0);
    CHECK(f.gpr(Gpr::rbx) == (dt ? vmm::guest_policy_bit::dt_guard : 0));
  }
  // No context to read it from: unknown_cpu, as the other per-CPU hypercalls answer.
  vmx::GprFile regs{};
  regs.gpr[static_cast<unsigned>(Gpr::rax)] = 11;
  vmm::Log log;
  REQUIRE(vmm::run_hypercall(regs, true, log));
  CHECK(regs.gpr[static_cast<unsigned>(Gpr::rax)] == static_cast<uint64_t>(vmm::HypercallStatus::unknown_cpu));
}
