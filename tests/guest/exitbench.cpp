// exitbench (issue P5): the cost of each kind of VM exit, measured from inside the guest in
// the style of kvm-unit-tests' vmexit test. Each operation runs in a tight loop of N
// iterations between two RDTSCs; the loop is hand-written assembly (the same `dec; jnz`
// frame for every operation), so that `tsc_per_iter` of the empty loop is exactly the
// frame's cost. Under Bochs (clock: sync=none) the TSC advances once per executed
// instruction, so the figures are instruction counts and do not vary between runs.
//
// The same program runs chain-loaded after apexvisor and booted bare (as BOOTX64.EFI with no
// hypervisor); tools/bench subtracts the bare figure from the hypervisor's to get the
// instructions the hypervisor spends per exit. Operations:
//
//   loop_overhead       the empty loop (dec; jnz): subtract it to get one operation's cost
//   cpuid_0             CPUID leaf 0 (always exits: SDM Vol 3C 26.1.2)
//   cpuid_hv            CPUID leaf 0x40000000, apexvisor's signature leaf (also exits)
//   vmcall_version      VMCALL hypercall 0 "version" (vmm/hypercall.hpp). Bare: skipped,
//                       VMCALL raises #UD outside VMX non-root
//   xsetbv              XSETBV of the current XCR0 (always exits: SDM Vol 3C 26.1.2)
//   rdmsr_emulated      RDMSR of IA32_FEATURE_CONTROL (0x3a): its read bit is set in the MSR
//                       bitmap and the handler computes the value (vmm/msr_policy.def)
//   rdmsr_nonexit       RDMSR of IA32_PAT (0x277): in the bitmap's low range with its bit
//                       clear, so it never exits: the hypervisor's figure must equal bare
//   rdmsr_outside_bitmap RDMSR of 0xdeadbeef, outside both bitmap ranges (SDM Vol 3C 25.6.9:
//                       such MSRs always exit); the handler passes it to the hardware with a
//                       fault-safe RDMSR. Bochs ignores unknown MSRs (its cpu option
//                       ignore_bad_msrs defaults to on: the read returns 0, no #GP), so under
//                       Bochs this is the successful pass-through path; on hardware it is
//                       exit + host #GP + #GP(0) injected, and `faults=` says so
//   mov_cr4_same        MOV to CR4 of the value it holds: owned bits equal the read shadow,
//                       so it does not exit (SDM Vol 3C 26.1.3): the no-exit CR4 baseline
//   mov_cr4_reserved_gp MOV to CR4 setting reserved bit 31: owned by apexvisor (its CR4
//                       guest/host mask holds every bit IA32_VMX_CR4_FIXED1 does not allow),
//                       so it exits; the handler raises #GP(0), as the CPU does bare. Every
//                       CR4 write that exits under apexvisor ends in #GP (only VMXE and
//                       unsupported bits are owned), so this is the CR-access exit path.
//   apic_tpr_write      write of the xAPIC's TPR (offset 0x80) with the value it holds
//   apic_lvt_write      write of the xAPIC's LVT error register (offset 0x370) with the
//                       value it holds
//   apic_ppr_read       read of the xAPIC's PPR (offset 0xa0)
//   cr8_write           MOV to CR8 of its current value (read before the loop)
//                       How these four exit depends on how apexvisor traps the guest's APIC
//                       accesses (config apic_virt=, vmm/apic/virtual_apic.hpp): with the
//                       CPU's APIC-register virtualization, the LVT write is an APIC-write
//                       exit, the PPR read an APIC-access exit, the CR8 write a CR-access
//                       exit and the TPR write (not lowering the TPR) no exit; with the EPT
//                       write trap (apic_virt=off), both writes are EPT violations and the
//                       read and CR8 do not exit. Bare, all four reach the APIC directly. The
//                       three xAPIC operations are skipped in x2APIC mode (no MMIO page).
//
// Last, not VM exits: the two ways the loader prints a log line, 64 characters at a time
// (tools/bench uses them to explain the loader's boot time):
//   `uart op=com1_line`     boot::Serial16550::write to COM1, the loader's own serial sink:
//                           polled, one character per "transmitter empty" (an emulator that
//                           models the baud rate, as Bochs does, makes this wait real)
//   `firmware op=conout_line` the firmware's ConOut->OutputString (interrupts as the firmware
//                           has them); OVMF draws on the screen and mirrors to COM1
//
// With the hypervisor present, hypercall 1 (exit counters of this CPU) is read around every
// loop, for every basic exit reason, and each line says how many exits the loop took
// (`exits=`) and of which reasons (`reasons=`), so a figure can be trusted to be N exits of
// a known kind (or none). Every loop, and the counter reads around it, runs with interrupts
// off (an interrupt's handler would add its own exits: the EOI is an APIC write), the loop
// under a private IDT whose handlers resume after the faulting instruction and count the
// faults (`faults=`).
//
// Output, one line per operation (tools/bench parses these):
//   apexvisor-bench: mode=hypervisor|bare cpu=<index> iterations=N ...
//   apexvisor-bench: op=<name> iterations=N tsc_total=T tsc_per_iter=X.XX exits=E faults=F vector=V
//                    reasons=R
//                    (exits: n/a without the hypervisor; vector: the last fault's, -1 if none;
//                    reasons: the loop's exits by basic exit reason, `name:count,...` in
//                    numeric order, `none` when it took none, n/a without the counters)
//   apexvisor-bench: op=<name> skipped reason="..."
//   apexvisor-bench: uart op=com1_line chars=64 iterations=N tsc_total=T tsc_per_iter=X.XX
//   apexvisor-bench: firmware op=conout_line chars=64 iterations=N tsc_total=T tsc_per_iter=X.XX
//   apexvisor-bench: done
//   apexvisor-test: end
// Load options (the loader's `cmdline=` key): `iterations=N` (default 1000) and
// `skip=op1,op2,...` (tools/bench skips operations whose exit handler is not in
// vmm/exit_handlers.def yet: without one the guest would be stopped).
#include <stdarg.h>

#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "boot/serial16550.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "vmm/log/format.hpp"
#include "vmx/exit_reason.hpp"

// ---- the private IDT: every exception resumes at bench_fixup ------------------------------
extern "C" {
volatile uint64_t bench_fixup = 0;        // where an exception resumes (set by each loop)
volatile uint64_t bench_fault_count = 0;  // exceptions taken in the current loop
volatile uint64_t bench_last_vector = 0;  // the last one's vector
extern const uint64_t bench_exc_stubs[32];
}

asm(R"(
  .pushsection .text
  .macro BENCH_EXC v
  .p2align 4
bench_exc_\v:
  .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
  add $8, %rsp
  .endif
  movq $\v, bench_last_vector(%rip)
  jmp bench_exc_common
  .endm
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  BENCH_EXC \v
  .endr
bench_exc_common:
  // (%rsp) = the faulting RIP. Resume at bench_fixup; without one, stop visibly.
  incq bench_fault_count(%rip)
  push %rax
  mov bench_fixup(%rip), %rax
  test %rax, %rax
  jz 1f
  mov %rax, 8(%rsp)
  pop %rax
  iretq
1:
  cli
  hlt
  jmp 1b
  .popsection
  .pushsection .data
  .p2align 3
  .globl bench_exc_stubs
bench_exc_stubs:
  .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  .quad bench_exc_\v
  .endr
  .popsection
)");

namespace {

using LoopFn = uint64_t (*)(uint64_t n, uint64_t a0, uint64_t a1);

// One loop: fixup address, RDTSC, N x (body; dec; jnz), RDTSC; returns the TSC delta. The
// body gets its arguments in R11 (a0) and R12 (a1) and may clobber every legacy GPR but
// RSP, RBP, R10 (the counter), R9 (the start TSC), R11 and R12. Label 3 follows the body:
// an exception in the body resumes there.
#define BENCH_LOOP(name, body)                                                              \
  uint64_t name(uint64_t n, uint64_t a0, uint64_t a1) {                                     \
    uint64_t delta;                                                                         \
    asm volatile(                                                                           \
        "mov %[n], %%r10\n\t"                                                               \
        "mov %[a0], %%r11\n\t"                                                              \
        "mov %[a1], %%r12\n\t"                                                              \
        "lea 3f(%%rip), %%r8\n\t"                                                           \
        "mov %%r8, bench_fixup(%%rip)\n\t"                                                  \
        "rdtsc\n\t"                                                                         \
        "shl $32, %%rdx\n\t"                                                                \
        "or %%rax, %%rdx\n\t"                                                               \
        "mov %%rdx, %%r9\n\t"                                                               \
        ".p2align 4\n"                                                                      \
        "1:\n\t" body "\n"                                                                  \
        "3:\n\t"                                                                            \
        "dec %%r10\n\t"                                                                     \
        "jnz 1b\n\t"                                                                        \
        "rdtsc\n\t"                                                                         \
        "shl $32, %%rdx\n\t"                                                                \
        "or %%rdx, %%rax\n\t"                                                               \
        "sub %%r9, %%rax\n\t"                                                               \
        : "=a"(delta)                                                                       \
        : [n] "rm"(n), [a0] "rm"(a0), [a1] "rm"(a1)                                         \
        : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "memory", "cc"); \
    return delta;                                                                           \
  }

BENCH_LOOP(loop_empty, "")
BENCH_LOOP(loop_cpuid, "mov %%r11d, %%eax\n\txor %%ecx, %%ecx\n\tcpuid")
BENCH_LOOP(loop_vmcall, "mov %%r11, %%rax\n\txor %%ebx, %%ebx\n\txor %%ecx, %%ecx\n\tvmcall")
BENCH_LOOP(loop_xsetbv, "mov %%r11d, %%eax\n\tmov %%r12d, %%edx\n\txor %%ecx, %%ecx\n\txsetbv")
BENCH_LOOP(loop_rdmsr, "mov %%r11d, %%ecx\n\trdmsr")
BENCH_LOOP(loop_write_cr4, "mov %%r11, %%cr4")
// A write of an xAPIC register (a0 = its address) with the value it holds.
BENCH_LOOP(loop_apic_write, "movl (%%r11), %%eax\n\tmovl %%eax, (%%r11)")
// A read of an xAPIC register (a0 = its address).
BENCH_LOOP(loop_apic_read, "movl (%%r11), %%eax")
// MOV to CR8 of a0 (the TPR's priority class, CR8[3:0]).
BENCH_LOOP(loop_write_cr8, "mov %%r11, %%cr8")

#undef BENCH_LOOP

constexpr uint64_t kDefaultIterations = 1000;
constexpr uint64_t kMaxIterations = 1000000;
constexpr uint32_t kApexSignatureEbx = 0x78657061;  // "apex"
constexpr uint32_t kMsrFeatureControl = 0x3a, kMsrPat = 0x277, kMsrNonexistent = 0xdeadbeef;
constexpr uint64_t kCr4Reserved31 = 1ull << 31;

boot::Serial16550 g_out;

// "apexvisor-bench: <text>\n" on COM1.
void bench_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  guest::vsay_as("apexvisor-bench: ", fmt, ap);
  va_end(ap);
}

// ---- load options: iterations=N skip=a,b,c -------------------------------------------------
struct Options {
  uint64_t iterations = kDefaultIterations;
  char skip[256] = {};  // comma-separated operation names
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool starts_with(const char* s, const char* prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return false;
  return true;
}

Options parse_options(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  Options o;
  EFI_GUID guid = LOADED_IMAGE_PROTOCOL;
  EFI_LOADED_IMAGE* li = nullptr;
  if (EFI_ERROR(st->BootServices->HandleProtocol(image, &guid, reinterpret_cast<void**>(&li))) || !li ||
      !li->LoadOptions)
    return o;
  char text[512];
  size_t len = 0;
  const auto* w = static_cast<const CHAR16*>(li->LoadOptions);
  for (size_t i = 0; i < li->LoadOptionsSize / 2 && w[i] && len + 1 < sizeof text; ++i)
    text[len++] = w[i] < 0x80 ? static_cast<char>(w[i]) : '?';
  text[len] = '\0';
  for (const char* p = text; *p;) {
    while (is_blank(*p)) ++p;
    const char* word = p;
    while (*p && !is_blank(*p)) ++p;
    if (starts_with(word, "iterations=")) {
      uint64_t v = 0;
      for (const char* d = word + 11; d < p && *d >= '0' && *d <= '9'; ++d) v = v * 10 + (*d - '0');
      if (v >= 1 && v <= kMaxIterations) o.iterations = v;
    } else if (starts_with(word, "skip=")) {
      size_t k = 0;
      for (const char* d = word + 5; d < p && k + 1 < sizeof o.skip; ++d) o.skip[k++] = *d;
      o.skip[k] = '\0';
    }
  }
  return o;
}

// Is `name` one of the comma-separated entries of `list`?
bool listed(const char* list, const char* name) {
  for (const char* p = list; *p;) {
    const char* q = name;
    while (*p && *p != ',' && *q && *p == *q) ++p, ++q;
    if (!*q && (!*p || *p == ',')) return true;
    while (*p && *p != ',') ++p;
    if (*p == ',') ++p;
  }
  return false;
}

// ---- the private IDT ----------------------------------------------------------------------
uint8_t g_idt[32 * 16] __attribute__((aligned(16)));
arch::PseudoDescriptor g_idtr;

void build_idt() {
  uint16_t cs;
  asm volatile("mov %%cs, %0" : "=r"(cs));
  for (unsigned v = 0; v < 32; ++v) {
    const uint64_t h = bench_exc_stubs[v];
    uint8_t* g = g_idt + 16 * v;
    g[0] = h & 0xff;
    g[1] = (h >> 8) & 0xff;
    g[2] = cs & 0xff;
    g[3] = cs >> 8;
    g[4] = 0;     // no IST
    g[5] = 0x8e;  // present, DPL 0, 64-bit interrupt gate
    g[6] = (h >> 16) & 0xff;
    g[7] = (h >> 24) & 0xff;
    for (int i = 0; i < 4; ++i) g[8 + i] = (h >> (32 + 8 * i)) & 0xff;
    for (int i = 12; i < 16; ++i) g[i] = 0;
  }
  g_idtr.limit = sizeof g_idt - 1;
  g_idtr.base = reinterpret_cast<uint64_t>(g_idt);
}

// ---- the hypervisor, when present ---------------------------------------------------------
struct Hypervisor {
  bool present = false;
  bool counters = false;  // hypercall 1 works for this CPU
  uint64_t cpu = 0;       // this CPU's index (MP services)
  uint64_t counter_self = 0;  // exits counted between two back-to-back counter reads
};

bool signature_is_apexvisor() {
  auto h = arch::cpuid(0x40000000);
  return h.ebx == kApexSignatureEbx && h.ecx == 0x6f736976 /* "viso" */ && h.edx == 0x72 /* "r" */;
}

uint64_t this_cpu_index(EFI_SYSTEM_TABLE* st) {
  EFI_GUID guid = efi::kMpServicesGuid;
  void* iface = nullptr;
  if (EFI_ERROR(st->BootServices->LocateProtocol(&guid, nullptr, &iface))) return 0;
  auto* mp = static_cast<efi::MpServicesProtocol*>(iface);
  UINTN self = 0;
  if (EFI_ERROR(mp->who_am_i(mp, &self))) return 0;
  return self;
}

// All exits of this CPU so far (hypercall 1, RCX), or ~0 when it fails.
uint64_t exits_so_far(const Hypervisor& hv) {
  guest::HypercallResult r = guest::hypercall(1, hv.cpu, 0);
  return r.fault == guest::kNoFault && r.rax == 0 ? r.rcx : ~0ull;
}

// Every per-reason exit counter of this CPU: one hypercall 1 per basic exit reason, in
// numeric order, each count into by_reason. Returns the all-exits count (RCX) that the
// first call (first = true) or the last call returned, or ~0 when a call fails. Counted
// between a snapshot's last call and the next snapshot's first, the all-exits count gains
// exactly the loop's exits and the one VMCALL that asks (Hypervisor::counter_self); a
// reason's count gains its loop exits and, for vmcall, the kExitReasonLimit calls made
// between its two reads.
uint64_t read_counters(const Hypervisor& hv, uint64_t* by_reason, bool first) {
  uint64_t total = ~0ull;
  for (size_t reason = 0; reason < vmx::kExitReasonLimit; ++reason) {
    guest::HypercallResult r = guest::hypercall(1, hv.cpu, reason);
    if (r.fault != guest::kNoFault || r.rax != 0) return ~0ull;
    by_reason[reason] = r.rbx;
    if (reason == 0 ? first : !first) total = r.rcx;
  }
  return total;
}

Hypervisor detect(EFI_SYSTEM_TABLE* st) {
  Hypervisor hv;
  hv.present = (arch::cpuid(1).ecx & (1u << 31)) && signature_is_apexvisor();
  if (!hv.present) return hv;
  hv.cpu = this_cpu_index(st);
  const uint64_t a = exits_so_far(hv);
  const uint64_t b = exits_so_far(hv);
  hv.counters = a != ~0ull && b != ~0ull && b >= a;
  hv.counter_self = hv.counters ? b - a : 0;
  return hv;
}

struct Measured {
  uint64_t tsc;
  uint64_t faults;
  uint64_t vector;
  uint64_t exits_before, exits_after;  // read_counters' all-exits counts, ~0: failed or none
};

// Runs one loop with interrupts off (no timer interrupt lands in a measurement) under the
// private IDT. With the exit counters, they are read just before and just after the loop,
// still with interrupts off: a timer interrupt that becomes pending during a long loop is
// taken only after the second read, so its handler's exits (its EOI to the APIC, ...) are
// not counted as the loop's.
Measured run_loop(LoopFn fn, uint64_t n, uint64_t a0, uint64_t a1, const Hypervisor& hv, uint64_t* by_reason_before,
                  uint64_t* by_reason_after) {
  const uint64_t flags = arch::read_rflags();
  arch::PseudoDescriptor saved;
  arch::cli();
  Measured m{};
  m.exits_before = hv.counters ? read_counters(hv, by_reason_before, false) : ~0ull;
  asm volatile("sidt %0" : "=m"(saved));
  asm volatile("lidt %0" ::"m"(g_idtr));
  bench_fault_count = 0;
  bench_last_vector = 0;
  m.tsc = fn(n, a0, a1);
  m.faults = bench_fault_count;
  m.vector = bench_last_vector;
  bench_fixup = 0;
  asm volatile("lidt %0" ::"m"(saved));
  m.exits_after = hv.counters ? read_counters(hv, by_reason_after, true) : ~0ull;
  if (flags & arch::rflags::IF) asm volatile("sti" ::: "memory");
  return m;
}

// ---- one operation ------------------------------------------------------------------------
struct Op {
  const char* name;
  LoopFn fn;
  uint64_t a0, a1;
  const char* bare_skip;  // why it cannot run without the hypervisor, or nullptr
  const char* skip;       // why it cannot run at all here, or nullptr
};

void measure(const Op& op, const Options& opt, const Hypervisor& hv) {
  if (!op.skip && listed(opt.skip, op.name)) {
    bench_line("op=%s skipped reason=\"handler missing (skip= in the load options)\"", op.name);
    return;
  }
  const char* why = op.skip ? op.skip : (!hv.present ? op.bare_skip : nullptr);
  if (why) {
    bench_line("op=%s skipped reason=\"%s\"", op.name, why);
    return;
  }
  const uint64_t n = opt.iterations;
  static uint64_t by_reason_before[vmx::kExitReasonLimit], by_reason_after[vmx::kExitReasonLimit];
  const Measured m = run_loop(op.fn, n, op.a0, op.a1, hv, by_reason_before, by_reason_after);
  const uint64_t before = m.exits_before, after = m.exits_after;
  char exits[32], reasons[160];
  vmm::format(exits, sizeof exits, "n/a");
  vmm::format(reasons, sizeof reasons, "n/a");
  if (hv.counters && before != ~0ull && after != ~0ull && after >= before + hv.counter_self) {
    vmm::format(exits, sizeof exits, "%llu", static_cast<unsigned long long>(after - before - hv.counter_self));
    // The loop's exits by reason, less the snapshots' own VMCALLs.
    size_t len = 0;
    reasons[0] = '\0';
    for (size_t reason = 0; reason < vmx::kExitReasonLimit; ++reason) {
      uint64_t d = by_reason_after[reason] - by_reason_before[reason];
      if (reason == static_cast<size_t>(vmx::ExitReason::vmcall)) d -= vmx::kExitReasonLimit;
      const char* name = vmx::exit_reason_name(static_cast<uint16_t>(reason));
      if (d == 0 || len + 1 >= sizeof reasons) continue;
      len += vmm::format(reasons + len, sizeof reasons - len, "%s%s:%llu", len ? "," : "", name ? name : "?",
                         static_cast<unsigned long long>(d));
    }
    if (len == 0) vmm::format(reasons, sizeof reasons, "none");
  }
  const uint64_t hundredths = (m.tsc % n) * 100 / n;
  bench_line("op=%s iterations=%llu tsc_total=%llu tsc_per_iter=%llu.%02llu exits=%s faults=%llu vector=%lld reasons=%s",
             op.name, static_cast<unsigned long long>(n), static_cast<unsigned long long>(m.tsc),
             static_cast<unsigned long long>(m.tsc / n), static_cast<unsigned long long>(hundredths), exits,
             static_cast<unsigned long long>(m.faults), m.faults ? static_cast<long long>(m.vector) : -1ll,
             reasons);
}

// What one log line costs the loader (see the top of the file). Both probes' lines end up in
// the serial log.
constexpr uint64_t kLines = 8;

void print_probe(const char* kind, const char* op, unsigned chars, uint64_t t) {
  bench_line("%s op=%s chars=%u iterations=%llu tsc_total=%llu tsc_per_iter=%llu.%02llu", kind, op, chars,
             static_cast<unsigned long long>(kLines), static_cast<unsigned long long>(t),
             static_cast<unsigned long long>(t / kLines), static_cast<unsigned long long>((t % kLines) * 100 / kLines));
}

void measure_com1() {
  // 63 characters and the newline, which Serial16550::write sends as CR LF: 65 bytes, as a
  // 64-character log line would be.
  static const char kLine[] = "exitbench: COM1 cost probe, 64 characters per line.............\n";
  static_assert(sizeof kLine - 1 == 64);
  const uint64_t t0 = arch::rdtsc();
  for (uint64_t i = 0; i < kLines; ++i) g_out.write(kLine, sizeof kLine - 1);
  print_probe("uart", "com1_line", sizeof kLine - 1, arch::rdtsc() - t0);
}

void measure_console(EFI_SYSTEM_TABLE* st) {
  static const char16_t kLine[] = u"exitbench: firmware console cost probe, 64 characters per line\r\n";
  constexpr unsigned kChars = sizeof kLine / sizeof kLine[0] - 1;
  static_assert(kChars == 64);
  if (!st->ConOut) {
    bench_line("firmware op=conout_line skipped reason=\"no ConOut\"");
    return;
  }
  const uint64_t t0 = arch::rdtsc();
  for (uint64_t i = 0; i < kLines; ++i) st->ConOut->OutputString(st->ConOut, efi::w(kLine));
  print_probe("firmware", "conout_line", kChars, arch::rdtsc() - t0);
}

}  // namespace

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  g_out.init(0x3f8);
  guest::probes_prepare();
  build_idt();
  const Options opt = parse_options(image, st);
  const Hypervisor hv = detect(st);

  // XSETBV needs CR4.OSXSAVE (else #UD before any VM exit); OVMF may leave it clear.
  const bool xsave = arch::cpuid(1).ecx & (1u << 26);
  if (xsave && !(arch::read_cr4() & arch::cr4::OSXSAVE)) arch::write_cr4(arch::read_cr4() | arch::cr4::OSXSAVE);
  const uint64_t xcr0 = xsave ? arch::xgetbv(0) : 0;
  const uint64_t cr4 = arch::read_cr4();

  bench_line("mode=%s cpu=%llu iterations=%llu exit_counters=%s tsc_start=%llu xcr0=0x%llx cr4=0x%llx",
             hv.present ? "hypervisor" : "bare", static_cast<unsigned long long>(hv.cpu),
             static_cast<unsigned long long>(opt.iterations), hv.counters ? "yes" : "no",
             static_cast<unsigned long long>(arch::rdtsc()), static_cast<unsigned long long>(xcr0),
             static_cast<unsigned long long>(cr4));

  const char* no_vmcall = "no hypervisor: VMCALL raises #UD outside VMX non-root";
  // The xAPIC page (SDM Vol 3A 11.4.1, Table 11-1): TPR at +0x80, PPR at +0xa0, LVT error
  // at +0x370; not in x2APIC mode.
  const uint64_t apic_base_msr = arch::rdmsr(arch::Msr::IA32_APIC_BASE);
  const uint64_t apic_page = apic_base_msr & ~0xfffull & 0xffffffffffull;
  const char* apic_skip = (apic_base_msr & (1u << 10)) ? "the local APIC is in x2APIC mode (no MMIO page)" : nullptr;
  // CR8 (64-bit mode, which exitbench always runs in): the TPR's class, written back as is.
  uint64_t cr8;
  asm volatile("mov %%cr8, %0" : "=r"(cr8));
  const char* no_xsave = xsave ? nullptr : "no XSAVE on this CPU (CPUID.1:ECX[26]=0)";
  const Op ops[] = {
      {"loop_overhead", loop_empty, 0, 0, nullptr, nullptr},
      {"cpuid_0", loop_cpuid, 0, 0, nullptr, nullptr},
      {"cpuid_hv", loop_cpuid, 0x40000000, 0, nullptr, nullptr},
      {"vmcall_version", loop_vmcall, 0, 0, no_vmcall, nullptr},
      {"xsetbv", loop_xsetbv, xcr0 & 0xffffffff, xcr0 >> 32, nullptr, no_xsave},
      {"rdmsr_emulated", loop_rdmsr, kMsrFeatureControl, 0, nullptr, nullptr},
      {"rdmsr_nonexit", loop_rdmsr, kMsrPat, 0, nullptr, nullptr},
      {"rdmsr_outside_bitmap", loop_rdmsr, kMsrNonexistent, 0, nullptr, nullptr},
      {"mov_cr4_same", loop_write_cr4, cr4, 0, nullptr, nullptr},
      {"mov_cr4_reserved_gp", loop_write_cr4, cr4 | kCr4Reserved31, 0, nullptr, nullptr},
      {"apic_tpr_write", loop_apic_write, apic_page + 0x80, 0, nullptr, apic_skip},
      {"apic_lvt_write", loop_apic_write, apic_page + 0x370, 0, nullptr, apic_skip},
      {"apic_ppr_read", loop_apic_read, apic_page + 0xa0, 0, nullptr, apic_skip},
      {"cr8_write", loop_write_cr8, cr8, 0, nullptr, nullptr},
  };
  for (const Op& op : ops) measure(op, opt, hv);
  measure_com1();
  measure_console(st);
  bench_line("done");
  guest::end_run(0);
}
