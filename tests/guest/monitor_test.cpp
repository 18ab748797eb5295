// The EPT write monitor checked from inside (issue P4): chain-loaded after apexvisor, this
// program watches a page it allocated (and a few bytes of its own data, for RIP-relative
// forms) through hypercall 16, writes into them with ~40 instruction forms — every form the
// emulator handles, in 8/16/32/64-bit widths, with immediates, registers, base+index*scale+
// disp and RIP-relative addressing, REP string forms, LOCKed read-modify-writes, and forms
// it does not handle (CMPXCHG, XADD, MOVNTI, MOVDQU), which the monitor single-steps under
// MTF — and checks memory after each write. Then it reads every logged event back through
// hypercall 18 and checks each field (CPU, RIP against the instruction's own label, GPA,
// linear address, size, old and new value, instruction bytes and length, kind), the
// counters (hypercall 19), the refusals, that reads never exit and that watched code still
// executes. One PASS/FAIL line per check, a tally, then the end marker.
#include "arch/cpu.hpp"
#include "arch/cr_bits.hpp"
#include "arch/little_endian.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/selftest_checks.hpp"
#include "vmm/log/format.hpp"

// ---- the instructions under test -------------------------------------------------------
// Each probe is a function `uint64_t mon_p_<name>(uint8_t* page, uint64_t arg)` (System V:
// RDI = the watched page, RSI = arg; returns RAX). `setup` runs first; the instruction under
// test sits between the labels mon_i_<name> and mon_e_<name>, so its RIP and bytes are
// known exactly. Only caller-saved registers are used.
#define MON_PROBES(X)                                                                          \
  X(mov8_imm, "", "movb $0x5a, 0x10(%rdi)")                                                    \
  X(mov8_reg, "", "mov %sil, 0x11(%rdi)")                                                      \
  X(mov8_high, "mov %rsi, %rax", "mov %ah, 0x12(%rdi)")                                        \
  X(mov16_reg, "", "mov %si, 0x14(%rdi)")                                                      \
  X(mov16_imm, "", "movw $0x1234, 0x16(%rdi)")                                                 \
  X(mov32_reg, "", "mov %esi, 0x18(%rdi)")                                                     \
  X(mov32_imm, "", "movl $0x12345678, 0x1c(%rdi)")                                             \
  X(mov64_reg, "", "mov %rsi, 0x20(%rdi)")                                                     \
  X(mov64_imm, "", "movq $-2, 0x28(%rdi)")                                                     \
  X(mov_sib, "mov $3, %ecx", "mov %rsi, 0x100(%rdi,%rcx,8)")                                   \
  X(mov_sib16, "mov $5, %ecx", "movw $0x7777, 0x140(%rdi,%rcx,2)")                             \
  X(mov_rip32, "", "mov %esi, mon_static+0x108(%rip)")                                         \
  X(mov_rip8, "", "movb $0x42, mon_static+0x110(%rip)")                                        \
  X(xchg64, "mov %rsi, %rax", "xchg %rax, 0x30(%rdi)")                                         \
  X(add32_imm, "", "addl $0x100, 0x38(%rdi)")                                                  \
  X(sub16_reg, "", "sub %si, 0x3c(%rdi)")                                                      \
  X(and8_imm, "", "andb $0x0f, 0x3e(%rdi)")                                                    \
  X(or64_reg, "", "or %rsi, 0x40(%rdi)")                                                       \
  X(xor32_reg, "", "xor %esi, 0x48(%rdi)")                                                     \
  X(adc8_reg, "stc", "adc %sil, 0x4c(%rdi)")                                                   \
  X(inc64, "", "incq 0x50(%rdi)")                                                              \
  X(dec16, "", "decw 0x58(%rdi)")                                                              \
  X(neg32, "", "negl 0x5c(%rdi)")                                                              \
  X(not8, "", "notb 0x60(%rdi)")                                                               \
  X(bts32_imm, "", "btsl $5, 0x64(%rdi)")                                                      \
  X(btr64_reg, "", "btr %rsi, 0x68(%rdi)")                                                     \
  X(btc16_imm, "", "btcw $3, 0x70(%rdi)")                                                      \
  X(sete, "cmp %rsi, %rsi", "sete 0x72(%rdi)")                                                 \
  X(setne, "cmp %rsi, %rsi", "setne 0x73(%rdi)")                                               \
  X(rep_stosb, "mov %rsi, %rax; lea 0x80(%rdi), %rdi; mov $5, %ecx", "rep stosb")              \
  X(rep_stosq, "mov %rsi, %rax; lea 0x88(%rdi), %rdi; mov $3, %ecx", "rep stosq")              \
  X(stosw, "mov %rsi, %rax; lea 0xa0(%rdi), %rdi", "stosw")                                    \
  X(movsq, "lea 0xa8(%rdi), %rdi", "movsq")                                                    \
  X(rep_movsb, "lea 0xb0(%rdi), %rdi; mov $4, %ecx", "rep movsb")                              \
  X(lock_add64, "", "lock addq %rsi, 0xb8(%rdi)")                                              \
  X(lock_bts64, "", "lock btsq $40, 0xc0(%rdi)")                                               \
  X(lock_xor16, "", "lock xorw %si, 0xc8(%rdi)")                                               \
  X(cmpxchg64, "mov (%rsi), %rsi; mov 0xd0(%rdi), %rax", "cmpxchg %rsi, 0xd0(%rdi)")           \
  X(lock_cmpxchg32, "mov (%rsi), %esi; mov 0xcc(%rdi), %eax", "lock cmpxchg %esi, 0xcc(%rdi)") \
  X(xadd32, "mov %rsi, %rax", "xadd %eax, 0xd8(%rdi)")                                         \
  X(movnti64, "mov (%rsi), %rsi", "movnti %rsi, 0xe0(%rdi)")                                   \
  X(movdqu128, "movdqu (%rsi), %xmm0", "movdqu %xmm0, 0xf0(%rdi)")                             \
  X(unwatched, "", "mov %rsi, 0xf00(%rdi)")

#define MON_ASM(n, setup, insn)                                                          \
  ".globl mon_p_" #n ", mon_i_" #n ", mon_e_" #n "\n.hidden mon_p_" #n ", mon_i_" #n \
  ", mon_e_" #n "\n.p2align 4\nmon_p_" #n ":\n" setup "\nmon_i_" #n ":\n" insn "\nmon_e_" #n ":\nret\n"

asm(".text\n" MON_PROBES(MON_ASM)
    // Code that must stay executable while a byte of its page is watched (R+X in the EPT).
    ".globl mon_exec\n.hidden mon_exec\n.p2align 4\nmon_exec:\nmov $42, %eax\nret\n"
    // A page of data of our own for the RIP-relative forms: page-aligned and alone in its
    // page, so that nothing else in this program writes there.
    ".data\n.globl mon_static\n.hidden mon_static\n.balign 4096\nmon_static:\n.fill 4096, 1, 0\n.text\n"
    // mon_scatter(base, indices, values): one AVX-512 VPSCATTERDD of 16 dwords at
    // base + indices[i] (System V: RDI, RSI, RDX). Needs XCR0 with the AVX-512 state on.
    ".globl mon_scatter\n.hidden mon_scatter\n.p2align 4\nmon_scatter:\n"
    "kxnorw %k0, %k0, %k1\nvmovdqu32 (%rsi), %zmm0\nvmovdqu32 (%rdx), %zmm1\n"
    "vpscatterdd %zmm1, (%rdi,%zmm0,1){%k1}\nvzeroupper\nret\n");

#define MON_DECL(n, setup, insn)                                                   \
  extern "C" __attribute__((visibility("hidden"))) uint64_t mon_p_##n(uint8_t*, uint64_t); \
  extern "C" __attribute__((visibility("hidden"))) const uint8_t mon_i_##n[];       \
  extern "C" __attribute__((visibility("hidden"))) const uint8_t mon_e_##n[];
MON_PROBES(MON_DECL)
extern "C" __attribute__((visibility("hidden"))) uint64_t mon_exec();
extern "C" __attribute__((visibility("hidden"))) void mon_scatter(uint8_t* base, const uint32_t* indices,
                                                                  const uint32_t* values);
extern "C" __attribute__((visibility("hidden"))) uint8_t mon_static[4096];

namespace {

using guest::Tally;

// Hypercalls (vmm/hypercall.hpp) and their statuses.
constexpr uint64_t kAdd = 16, kRemove = 17, kReadEvent = 18, kStats = 19;
constexpr uint64_t kOk = 0, kUnavailable = 3, kBadRange = 4, kNotRam = 5, kTableFull = 6, kOverlap = 7,
                   kNoSuchRange = 8, kNoEvent = 10, kBadArgument = 12;
constexpr uint64_t kExitEptViolation = 48;

// The range watched from boot by tests/boot/bochs-monitor.cfg (monitor=).
constexpr uint64_t kBootRangeGpa = 0x1000000, kBootRangeSize = 0x40;

constexpr unsigned kWatchedBytes = 0xc00;                   // [page, page + 0xc00) is watched
constexpr unsigned kStaticFrom = 0x100, kStaticBytes = 0x40;  // [mon_static + 0x100, +0x40)

uint8_t g_mirror_page[4096];    // what the page must hold (the model)
uint8_t g_mirror_static[4096];  // what mon_static must hold
alignas(16) uint8_t g_src[16];  // source operands (unwatched)

using arch::load_le;
using arch::store_le;

// How arg is made, and how an element's new value follows from its old value.
enum class Src : uint8_t {
  arg,      // arg as given
  fixed,    // arg = g_src, filled with 0x01, 0x02, ...
  not_old,  // arg = g_src, filled with the complement of the bytes written (all change)
};

struct Probe {
  const char* name;
  uint64_t (*run)(uint8_t*, uint64_t);
  const uint8_t* insn;
  const uint8_t* end;
  bool in_static;     // writes mon_static instead of the page
  unsigned offset;    // first byte written
  unsigned elem;      // bytes per event
  unsigned count;     // events expected (0: the unwatched part of the page)
  bool fallback;      // single-stepped under MTF
  Src src;
  uint64_t arg;
  uint64_t (*model)(uint64_t old, uint64_t arg, unsigned i);  // the element's new value
};

#define P(n) #n, mon_p_##n, mon_i_##n, mon_e_##n
uint64_t v_arg(uint64_t, uint64_t a, unsigned) { return a; }
uint64_t v_src(uint64_t, uint64_t, unsigned i) { return load_le(g_src + 8 * i, 8); }  // elements from g_src

constexpr Probe kProbes[] = {
    {P(mov8_imm), false, 0x10, 1, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0x5a; }},
    {P(mov8_reg), false, 0x11, 1, 1, false, Src::arg, 0xa5, v_arg},
    {P(mov8_high), false, 0x12, 1, 1, false, Src::arg, 0x3c00, [](uint64_t, uint64_t a, unsigned) { return a >> 8; }},
    {P(mov16_reg), false, 0x14, 2, 1, false, Src::arg, 0xbeef, v_arg},
    {P(mov16_imm), false, 0x16, 2, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0x1234; }},
    {P(mov32_reg), false, 0x18, 4, 1, false, Src::arg, 0xcafebabe, v_arg},
    {P(mov32_imm), false, 0x1c, 4, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0x12345678; }},
    {P(mov64_reg), false, 0x20, 8, 1, false, Src::arg, 0x1122334455667788, v_arg},
    {P(mov64_imm), false, 0x28, 8, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return ~1ull; }},
    {P(mov_sib), false, 0x118, 8, 1, false, Src::arg, 0x0badf00d0badf00d, v_arg},
    {P(mov_sib16), false, 0x14a, 2, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0x7777; }},
    {P(mov_rip32), true, 0x108, 4, 1, false, Src::arg, 0xdeadbeef, v_arg},
    {P(mov_rip8), true, 0x110, 1, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0x42; }},
    {P(xchg64), false, 0x30, 8, 1, false, Src::arg, 0x5555aaaa5555aaaa, v_arg},
    {P(add32_imm), false, 0x38, 4, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o + 0x100; }},
    {P(sub16_reg), false, 0x3c, 2, 1, false, Src::arg, 0x1111, [](uint64_t o, uint64_t a, unsigned) { return o - a; }},
    {P(and8_imm), false, 0x3e, 1, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o & 0x0f; }},
    {P(or64_reg), false, 0x40, 8, 1, false, Src::arg, 0x8000000000000001, [](uint64_t o, uint64_t a, unsigned) { return o | a; }},
    {P(xor32_reg), false, 0x48, 4, 1, false, Src::arg, 0xffffffff, [](uint64_t o, uint64_t a, unsigned) { return o ^ a; }},
    {P(adc8_reg), false, 0x4c, 1, 1, false, Src::arg, 0x10, [](uint64_t o, uint64_t a, unsigned) { return o + a + 1; }},
    {P(inc64), false, 0x50, 8, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o + 1; }},
    {P(dec16), false, 0x58, 2, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o - 1; }},
    {P(neg32), false, 0x5c, 4, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return 0 - o; }},
    {P(not8), false, 0x60, 1, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return ~o; }},
    {P(bts32_imm), false, 0x64, 4, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o | 0x20; }},
    {P(btr64_reg), false, 0x68, 8, 1, false, Src::arg, 63, [](uint64_t o, uint64_t, unsigned) -> uint64_t { return o & ~(1ull << 63); }},
    {P(btc16_imm), false, 0x70, 2, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) { return o ^ 8; }},
    {P(sete), false, 0x72, 1, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 1; }},
    {P(setne), false, 0x73, 1, 1, false, Src::arg, 0, [](uint64_t, uint64_t, unsigned) -> uint64_t { return 0; }},
    {P(rep_stosb), false, 0x80, 1, 5, false, Src::arg, 0xcc, v_arg},
    {P(rep_stosq), false, 0x88, 8, 3, false, Src::arg, 0x0102030405060708, v_arg},
    {P(stosw), false, 0xa0, 2, 1, false, Src::arg, 0x4242, v_arg},
    {P(movsq), false, 0xa8, 8, 1, false, Src::fixed, 0, v_src},
    {P(rep_movsb), false, 0xb0, 1, 4, false, Src::fixed, 0, [](uint64_t, uint64_t, unsigned i) -> uint64_t { return g_src[i]; }},
    {P(lock_add64), false, 0xb8, 8, 1, false, Src::arg, 0x100000001, [](uint64_t o, uint64_t a, unsigned) { return o + a; }},
    {P(lock_bts64), false, 0xc0, 8, 1, false, Src::arg, 0, [](uint64_t o, uint64_t, unsigned) -> uint64_t { return o | (1ull << 40); }},
    {P(lock_xor16), false, 0xc8, 2, 1, false, Src::arg, 0xffff, [](uint64_t o, uint64_t a, unsigned) { return o ^ a; }},
    {P(cmpxchg64), false, 0xd0, 8, 1, true, Src::not_old, 0, v_src},
    {P(lock_cmpxchg32), false, 0xcc, 4, 1, true, Src::not_old, 0, v_src},
    {P(xadd32), false, 0xd8, 4, 1, true, Src::arg, 0x11111111, [](uint64_t o, uint64_t a, unsigned) { return o + a; }},
    {P(movnti64), false, 0xe0, 8, 1, true, Src::not_old, 0, v_src},
    {P(movdqu128), false, 0xf0, 8, 2, true, Src::not_old, 0, v_src},
    {P(unwatched), false, 0xf00, 8, 0, false, Src::arg, 0x9999999999999999, v_arg},
};
#undef P

uint64_t mask(unsigned bytes) { return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1; }

// The bytes a probe writes (elements, or the whole span for a fallback's 16-byte store).
unsigned span(const Probe& p) { return p.elem * (p.count ? p.count : 1); }

// Applies the probe to the mirror: each element's new value from its old one.
void model(const Probe& p, uint8_t* mirror, uint64_t arg) {
  for (unsigned i = 0; i < (p.count ? p.count : 1); ++i) {
    uint8_t* at = mirror + p.offset + i * p.elem;
    store_le(at, p.elem, p.model(load_le(at, p.elem), arg, i) & mask(p.elem));
  }
}

guest::HypercallResult hc(uint64_t n, uint64_t rbx = 0, uint64_t rcx = 0) { return guest::hypercall(n, rbx, rcx); }

bool same(const volatile uint8_t* real, const uint8_t* mirror, unsigned n, unsigned* where) {
  for (unsigned i = 0; i < n; ++i)
    if (real[i] != mirror[i]) return *where = i, false;
  return true;
}

// One expected event: what the monitor must have logged.
struct Expected {
  const Probe* probe;
  uint64_t gpa;
  unsigned size;
  uint64_t old_value, new_value;
};
constexpr unsigned kMaxExpected = 64;
Expected g_expected[kMaxExpected];
unsigned g_expected_count = 0;

void fill_pattern(uint8_t* p, uint8_t* mirror, unsigned salt) {
  for (unsigned i = 0; i < 4096; ++i) p[i] = mirror[i] = static_cast<uint8_t>(i * 7 + salt);
}

uint64_t exits_of(uint64_t reason) { return hc(1, 0, reason).rbx; }

// Refusals and bookkeeping of hypercalls 16-19 (vmm/hypercall.hpp).
void check_refusals(Tally& t, uint64_t page) {
  auto r = hc(kAdd, page, 0);
  t.check(r.rax == kBadRange, "monitor_add of an empty range: bad range", "rax=%llu", r.rax);
  r = hc(kAdd, ~0ull - 0xff, 0x1000);
  t.check(r.rax == kBadRange, "monitor_add of a range that wraps: bad range", "rax=%llu", r.rax);
  r = hc(kAdd, 0xfee00000, 0x1000);
  t.check(r.rax == kNotRam, "monitor_add of the local APIC page (MMIO): not RAM", "rax=%llu", r.rax);
  r = hc(kAdd, 0xa0000, 0x1000);
  t.check(r.rax == kNotRam, "monitor_add of the legacy VGA hole: not RAM", "rax=%llu", r.rax);
  r = hc(kAdd, page + 0x800, 0x10);
  t.check(r.rax == kOverlap, "monitor_add overlapping a watched range: overlap", "rax=%llu", r.rax);
  r = hc(kRemove, page, 0x10);
  t.check(r.rax == kNoSuchRange, "monitor_remove of a range never added: no such range", "rax=%llu", r.rax);
  const uint64_t next = hc(kStats).rbx;
  r = hc(kReadEvent, next, 0);
  t.check(r.rax == kNoEvent, "monitor_read_event past the last event: no event", "rax=%llu", r.rax);
  r = hc(kReadEvent, 0, 6);  // parts 0-5 exist (2-5: R16..R31)
  t.check(r.rax == kBadArgument, "monitor_read_event part 6: bad argument", "rax=%llu", r.rax);
}

// Runs every probe: memory must match the model after each; collects the expected events.
void run_probes(Tally& t, uint8_t* page) {
  for (const Probe& p : kProbes) {
    uint8_t* mirror = p.in_static ? g_mirror_static : g_mirror_page;
    volatile uint8_t* real = p.in_static ? mon_static : page;
    uint64_t arg = p.arg;
    if (p.src == Src::fixed)
      for (unsigned i = 0; i < 16; ++i) g_src[i] = static_cast<uint8_t>(i + 1);
    if (p.src == Src::not_old)
      for (unsigned i = 0; i < 16; ++i) g_src[i] = static_cast<uint8_t>(~mirror[p.offset + i]);
    if (p.src != Src::arg) arg = reinterpret_cast<uint64_t>(g_src);
    uint8_t before[32] = {};  // the widest probe: rep stosq, 3 x 8 bytes
    for (unsigned i = 0; i < span(p) && i < sizeof before; ++i) before[i] = mirror[p.offset + i];
    model(p, mirror, arg);
    const uint64_t rax = p.run(page, arg);
    unsigned where = 0;
    char name[96];
    vmm::format(name, sizeof name, "write %s: memory as modelled", p.name);
    bool ok = same(real, mirror, 4096, &where) && same(p.in_static ? page : mon_static,
                                                      p.in_static ? g_mirror_page : g_mirror_static, 4096, &where);
    t.check(ok, name, "byte 0x%llx differs (0x%llx)", where, real[where]);
    if (p.run == mon_p_xchg64)
      t.check(rax == load_le(before, 8), "write xchg64: the register receives the old value", "rax=0x%llx", rax);
    const uint64_t base = reinterpret_cast<uint64_t>(p.in_static ? mon_static : page);
    for (unsigned i = 0; i < p.count && g_expected_count < kMaxExpected; ++i)
      g_expected[g_expected_count++] = {&p, base + p.offset + i * p.elem, p.elem, load_le(before + i * p.elem, p.elem),
                                        load_le(mirror + p.offset + i * p.elem, p.elem)};
  }
}

// Reads the events back (hypercall 18, both parts) and checks every field.
void check_events(Tally& t, uint64_t seq0) {
  unsigned k = 0;
  for (const Probe& p : kProbes) {
    if (!p.count) continue;
    const unsigned length = static_cast<unsigned>(p.end - p.insn);
    uint64_t insn_lo = 0, insn_hi = 0;
    for (unsigned i = 0; i < length && i < 16; ++i) (i < 8 ? insn_lo : insn_hi) |= static_cast<uint64_t>(p.insn[i]) << (8 * (i % 8));
    const char* bad = nullptr;
    unsigned long long got = 0, want = 0;
    auto expect = [&](const char* field, uint64_t g, uint64_t w) {
      if (bad || g == w) return;
      bad = field;
      got = g;
      want = w;
    };
    for (unsigned i = 0; i < p.count; ++i, ++k) {
      const Expected& e = g_expected[k];
      const uint64_t seq = seq0 + k;
      const auto a = hc(kReadEvent, seq, 0);
      const auto b = hc(kReadEvent, seq, 1);
      const uint64_t info = static_cast<uint64_t>(e.size) | (static_cast<uint64_t>(length) << 8) |
                            (static_cast<uint64_t>(p.fallback ? 1 : 0) << 16) | (0ull << 32);  // CPU 0, the BSP
      expect("status part 0", a.rax, kOk);
      expect("status part 1", b.rax, kOk);
      expect("GPA", a.rbx, e.gpa);
      expect("RIP", a.rcx, reinterpret_cast<uint64_t>(p.insn));
      expect("old value", a.rdx, e.old_value);
      expect("new value", a.rsi, e.new_value);
      expect("info (size, length, kind, CPU)", a.rdi, info);
      expect("linear address", b.rbx, e.gpa);  // UEFI maps memory 1:1
      expect("sequence number", b.rcx, seq);
      expect("instruction bytes 0-7", b.rdx, insn_lo);
      expect("instruction bytes 8-15", b.rsi, insn_hi);
      expect("info in part 1", b.rdi, info);
    }
    char name[96];
    vmm::format(name, sizeof name, "events %s: %u %s event%s, every field", p.name, p.count,
                p.fallback ? "fallback" : "emulated", p.count > 1 ? "s" : "");
    if (bad) {
      ++t.fail;
      guest::say("FAIL %s: event %u of it: %s: got 0x%llx, want 0x%llx", name, k, bad, got, want);
    } else {
      t.check(true, name);
    }
  }
}

// Hypervisor memory (EfiRuntimeServicesCode/Data allocations, hidden in the EPT) must be
// refused; the firmware's own runtime regions may be accepted, and are released at once.
void check_hypervisor_memory_refused(Tally& t, EFI_SYSTEM_TABLE* st) {
  const guest::MemoryMap map(st->BootServices);
  if (!map.ok()) return t.check(false, "memory map for the refusal check");
  unsigned refused = 0, tried = 0;
  uint64_t other = 0;
  // Highest first: apexvisor allocates from the top of memory down.
  for (UINTN i = map.count(); i > 0 && !refused && tried < 8; --i) {
    const EFI_MEMORY_DESCRIPTOR* d = &map.at(i - 1);
    if (d->Type != EfiRuntimeServicesData && d->Type != EfiRuntimeServicesCode) continue;
    ++tried;
    const auto r = hc(kAdd, d->PhysicalStart, d->NumberOfPages * 4096);
    if (r.rax == kNotRam) ++refused;
    else if (r.rax == kOk) hc(kRemove, d->PhysicalStart, d->NumberOfPages * 4096);
    else other = r.rax;
  }
  t.check(refused == 1 && other == 0, "monitor_add of apexvisor's own memory (runtime services memory): not RAM",
          "refused=%llu other status=%llu", refused, other);
}

// The most pages one instruction writes (issue P9): an AVX-512 scatter of 16 dwords, each
// straddling two watched pages, so 32 pages in one instruction. The emulator does no EVEX:
// the write monitor single-steps it, holding each page as the scatter faults on it (Bochs
// restarts a scatter at its first unfinished element), which once stopped the CPU past 8.
void check_scatter_across_32_pages(Tally& t, EFI_SYSTEM_TABLE* st) {
  constexpr uint64_t kAvx512State = 0xe7;  // x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
  const auto d = arch::cpuid(0xd, 0);
  const bool avx512 = (arch::cpuid(7, 0).ebx & (1u << 16)) && (d.eax & kAvx512State) == kAvx512State;
  if (!avx512)
    return t.check(false, "AVX-512F and its XSAVE state, for the 32-page scatter", "cpuid.7 ebx 0x%llx, 0xd eax 0x%llx",
                   arch::cpuid(7, 0).ebx, d.eax);
  constexpr unsigned kPages = 32;
  EFI_PHYSICAL_ADDRESS addr = 0;
  if (EFI_ERROR(st->BootServices->AllocatePages(AllocateAnyPages, EfiBootServicesData, kPages, &addr)))
    return t.check(false, "AllocatePages for the 32-page scatter");
  auto* base = reinterpret_cast<uint8_t*>(addr);
  for (unsigned i = 0; i < kPages * 4096; ++i) base[i] = 0;
  alignas(64) uint32_t indices[16], values[16];
  for (unsigned i = 0; i < 16; ++i) {
    indices[i] = (2 * i + 1) * 4096 - 2;  // the last 2 bytes of page 2i, the first 2 of page 2i+1
    values[i] = 0xa5000000u | (i << 16) | 0x5a5a;
  }
  const uint64_t cr4 = arch::read_cr4();
  arch::write_cr4(cr4 | arch::cr4::OSXSAVE);
  const uint64_t xcr0 = arch::xgetbv(0);
  arch::xsetbv(0, xcr0 | kAvx512State);
  const auto r = hc(kAdd, addr, kPages * 4096);
  const auto s0 = hc(kStats);
  mon_scatter(base, indices, values);
  const auto s1 = hc(kStats);
  hc(kRemove, addr, kPages * 4096);
  arch::xsetbv(0, xcr0);
  arch::write_cr4(cr4);
  unsigned wrong = 0;
  for (unsigned i = 0; i < 16; ++i) {
    uint32_t got = 0;
    for (unsigned b = 0; b < 4; ++b) got |= static_cast<uint32_t>(base[indices[i] + b]) << (8 * b);
    wrong += got != values[i];
  }
  t.check(r.rax == kOk && wrong == 0 && s1.rdx > s0.rdx,
          "an AVX-512 scatter into 32 watched pages (16 dwords, each across two) completes, single-stepped",
          "%llu elements wrong, fallbacks %llu (monitor_add must say ok)", static_cast<unsigned long long>(wrong),
          r.rax == kOk ? static_cast<unsigned long long>(s1.rdx - s0.rdx) : ~0ull);
  st->BootServices->FreePages(addr, kPages);
}

void run(Tally& t, EFI_SYSTEM_TABLE* st) {
  auto s = hc(kStats);
  if (s.fault != guest::kNoFault || s.rax == kUnavailable) {
    t.check(false, "EPT write monitor available (hypercall 19)", "fault=%llu rax=%llu", static_cast<unsigned>(s.fault), s.rax);
    return;
  }
  t.check(s.rax == kOk && (s.rdi >> 16 & 0xffff) == 16 && (s.rdi >> 32) == 256,
          "monitor_stats: 16 ranges, a ring of 256 events", "rdi=0x%llx", s.rdi);
  // The config range (monitor=) is watched from boot; removing it needs the exact range.
  t.check((s.rdi & 0xffff) >= 1, "range from the configuration watched from boot", "ranges=%llu", s.rdi & 0xffff);
  auto r = hc(kRemove, kBootRangeGpa, kBootRangeSize);
  t.check(r.rax == kOk, "monitor_remove of the configured range", "rax=%llu", r.rax);

  EFI_PHYSICAL_ADDRESS addr = 0;
  if (EFI_ERROR(st->BootServices->AllocatePages(AllocateAnyPages, EfiBootServicesData, 1, &addr)))
    return t.check(false, "AllocatePages for the watched page");
  auto* page = reinterpret_cast<uint8_t*>(addr);
  fill_pattern(page, g_mirror_page, 0x13);
  fill_pattern(mon_static, g_mirror_static, 0x5b);
  guest::say("monitor: watched page 0x%llx, static data 0x%llx, probe code 0x%llx",
             static_cast<unsigned long long>(addr), reinterpret_cast<unsigned long long>(mon_static),
             reinterpret_cast<unsigned long long>(mon_i_mov8_imm));
  r = hc(kAdd, addr, kWatchedBytes);
  t.check(r.rax == kOk, "monitor_add of an allocated page (EfiBootServicesData)", "rax=%llu", r.rax);
  r = hc(kAdd, reinterpret_cast<uint64_t>(mon_static) + kStaticFrom, kStaticBytes);
  t.check(r.rax == kOk, "monitor_add of 64 bytes of the program's data", "rax=%llu", r.rax);
  check_refusals(t, addr);

  // Reads never exit: the pages are R+X in the EPT.
  const uint64_t violations = exits_of(kExitEptViolation);
  uint64_t sum = 0;
  for (unsigned i = 0; i < 4096; i += 8) sum += *reinterpret_cast<volatile uint64_t*>(page + i);
  for (unsigned i = 0; i < 4096; i += 64) sum += *reinterpret_cast<volatile uint8_t*>(mon_static + i);
  const uint64_t after = exits_of(kExitEptViolation);
  t.check(after == violations, "reading watched pages causes no EPT violation", "%llu more (sum %llx)", after - violations, sum);

  // Code in a watched page still runs: X stays set.
  const uint64_t code = reinterpret_cast<uint64_t>(&mon_exec);
  r = hc(kAdd, code, 1);
  const uint64_t v = mon_exec();
  t.check(r.rax == kOk && v == 42, "code in a watched page still executes", "add=%llu ret=%llu", r.rax, v);
  hc(kRemove, code, 1);

  s = hc(kStats);
  const uint64_t seq0 = s.rbx, dropped0 = s.rcx, fallbacks0 = s.rdx;
  run_probes(t, page);
  check_events(t, seq0);
  s = hc(kStats);
  t.check(s.rbx == seq0 + g_expected_count, "monitor_stats: every write recorded, nothing else", "recorded %llu, want %llu",
          s.rbx - seq0, g_expected_count);
  t.check(s.rcx == dropped0, "monitor_stats: nothing dropped", "dropped %llu more", s.rcx - dropped0);
  // One step per form; an interrupt arriving first ends a step early (nothing changed) and the
  // instruction is stepped again.
  t.check(s.rdx >= fallbacks0 + 5 && s.rdx <= fallbacks0 + 8,
          "monitor_stats: 5 single-step fallbacks (cmpxchg, lock cmpxchg, xadd, movnti, movdqu)", "%llu fallbacks",
          s.rdx - fallbacks0);
  r = hc(kReadEvent, seq0 + g_expected_count, 0);
  t.check(r.rax == kNoEvent, "no event after the last write", "rax=%llu gpa=0x%llx", r.rax, r.rbx);

  // The table holds 16 ranges.
  unsigned added = 0;
  uint64_t status = kOk;
  for (unsigned i = 0; i < 20 && status == kOk; ++i) {
    status = hc(kAdd, addr + kWatchedBytes + 8 * i, 8).rax;
    if (status == kOk) ++added;
  }
  t.check(status == kTableFull && added == 14, "monitor_add beyond 16 ranges: table full", "status=%llu added=%llu", status, added);
  for (unsigned i = 0; i < added; ++i) hc(kRemove, addr + kWatchedBytes + 8 * i, 8);

  // Removed ranges: writes no longer exit nor log.
  r = hc(kRemove, addr, kWatchedBytes);
  const auto r2 = hc(kRemove, reinterpret_cast<uint64_t>(mon_static) + kStaticFrom, kStaticBytes);
  t.check(r.rax == kOk && r2.rax == kOk, "monitor_remove of both ranges", "rax=%llu, %llu", r.rax, r2.rax);
  const uint64_t before = exits_of(kExitEptViolation);
  mon_p_mov64_reg(page, 0x77);
  mon_p_mov_rip32(page, 0x77);
  t.check(exits_of(kExitEptViolation) == before && hc(kStats).rbx == seq0 + g_expected_count,
          "after removal, writes neither exit nor log", "violations %llu more", exits_of(kExitEptViolation) - before);
  s = hc(kStats);
  t.check((s.rdi & 0xffff) == 0, "no range left", "ranges=%llu", s.rdi & 0xffff);

  check_scatter_across_32_pages(t, st);
  check_hypervisor_memory_refused(t, st);
  st->BootServices->FreePages(addr, 1);
}

}  // namespace

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  guest::probes_prepare();
  Tally tally;
  run(tally, st);
  guest::say("monitor_test: tally pass=%u fail=%u", tally.pass, tally.fail);
  guest::end_run(tally.fail ? 1 : 0);
}
