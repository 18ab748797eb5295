// Differential test of decode/emulate against the CPU it runs on (x86-64 Linux host).
//
// For every legacy/REX form the emulator supports, random cases (fixed seed) are encoded here,
// executed natively — the bytes in an RWX page followed by RET, called from
// native_trampoline.S with all GPRs and RFLAGS loaded from a struct and stored back — and
// emulated on the same initial state, with the emulator's guest memory backed by the very
// same host buffer through 4-level guest page tables that map it 1:1 (CPL 3, like the Linux
// user mode the native run has). Registers, memory, the defined flags and, when the native run
// faults (#PF from a read-only or PROT_NONE page, #GP/#SS from a non-canonical address), the
// vector, error code, CR2 and the REP progress are compared.
//
// REX2 forms (which this host may not execute) are checked by mapping them to the equivalent
// REX form with R16..R31 renamed to legacy registers the case does not use, and comparing
// the emulator's EGPRs with the renamed registers.
//
// The flags the SDM leaves undefined are compared too and reported separately ("undefined
// flags differ"): they do not fail the run, but the counts document what this CPU does.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <asm/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "decode/decode.hpp"
#include "decode/emulate/emulate.hpp"
#include "decode/format.hpp"
#include "vmm/guest_memory/guest_linear_memory.hpp"

namespace emu = decode::emulate;
using namespace vmm::guest_memory;

struct NativeState {
  uint64_t gpr[16];
  uint64_t rflags;
};
extern "C" void native_run(NativeState* state, const void* code);

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
constexpr uint64_t kStatus = CF | PF | AF | ZF | SF | OF;
constexpr unsigned RSP = 4;

// ---- host memory: P0 P1 read-write, P2 read-only, P3 PROT_NONE --------------------------------
uint8_t* g_data = nullptr;   // 4 pages, below 2 GiB (MAP_32BIT: 67-prefixed forms can reach it)
uint8_t* g_code = nullptr;   // one RWX page, also below 2 GiB (RIP-relative reach)
uint8_t* g_tables = nullptr; // guest page tables for the emulator (GPA = host address)
uint64_t g_gs_base = 0;

uint64_t P(unsigned i) { return reinterpret_cast<uint64_t>(g_data) + i * kPage; }

// Guest-physical memory = the host's own memory, for the ranges the test owns.
class HostPhys final : public GuestPhysMemory {
 public:
  PhysStatus read(uint64_t gpa, void* dst, size_t n) override {
    if (!readable(gpa, n)) return PhysStatus::bad_gpa;
    memcpy(dst, reinterpret_cast<void*>(gpa), n);
    return PhysStatus::ok;
  }
  PhysStatus write(uint64_t gpa, const void* src, size_t n) override {
    if (!writable(gpa, n)) return PhysStatus::bad_gpa;
    memcpy(reinterpret_cast<void*>(gpa), src, n);
    return PhysStatus::ok;
  }
  PhysStatus cmpxchg(uint64_t gpa, unsigned n, uint64_t expected, uint64_t desired, uint64_t* observed) override {
    if (!writable(gpa, n)) return PhysStatus::bad_gpa;
    void* p = reinterpret_cast<void*>(gpa);
    switch (n) {
      case 1: { uint8_t e = static_cast<uint8_t>(expected); __atomic_compare_exchange_n(static_cast<uint8_t*>(p), &e, static_cast<uint8_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *observed = e; break; }
      case 2: { uint16_t e = static_cast<uint16_t>(expected); __atomic_compare_exchange_n(static_cast<uint16_t*>(p), &e, static_cast<uint16_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *observed = e; break; }
      case 4: { uint32_t e = static_cast<uint32_t>(expected); __atomic_compare_exchange_n(static_cast<uint32_t*>(p), &e, static_cast<uint32_t>(desired), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *observed = e; break; }
      default: { uint64_t e = expected; __atomic_compare_exchange_n(static_cast<uint64_t*>(p), &e, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); *observed = e; break; }
    }
    return PhysStatus::ok;
  }

 private:
  static bool in(uint64_t a, size_t n, uint64_t lo, uint64_t hi) { return a >= lo && a + n <= hi && a + n >= a; }
  bool readable(uint64_t a, size_t n) const {
    return in(a, n, P(0), P(3)) || in(a, n, reinterpret_cast<uint64_t>(g_tables), reinterpret_cast<uint64_t>(g_tables) + 8 * kPage);
  }
  bool writable(uint64_t a, size_t n) const {
    return in(a, n, P(0), P(2)) || in(a, n, reinterpret_cast<uint64_t>(g_tables), reinterpret_cast<uint64_t>(g_tables) + 8 * kPage);
  }
};

// 4-level tables mapping P0..P2 1:1 (P2 read-only), user, everything else not present.
uint64_t build_tables() {
  uint64_t next = reinterpret_cast<uint64_t>(g_tables);
  auto alloc = [&] { uint64_t t = next; next += kPage; memset(reinterpret_cast<void*>(t), 0, kPage); return t; };
  const uint64_t pml4 = alloc();
  constexpr uint64_t Pr = 1, RW = 2, US = 4;
  for (unsigned i = 0; i < 3; ++i) {
    const uint64_t lin = P(i);
    uint64_t table = pml4;
    for (unsigned level = 4; level > 1; --level) {
      uint64_t* e = reinterpret_cast<uint64_t*>(table) + ((lin >> (12 + 9 * (level - 1))) & 511);
      if (!(*e & Pr)) *e = alloc() | Pr | RW | US;
      table = *e & 0x000FFFFFFFFFF000ull;
    }
    reinterpret_cast<uint64_t*>(table)[(lin >> 12) & 511] = lin | Pr | US | (i < 2 ? RW : 0);
  }
  return pml4;
}

// ---- native execution with fault capture -------------------------------------------------
sigjmp_buf g_jmp;
volatile sig_atomic_t g_in_native = 0;
struct NativeFault {
  bool happened = false;
  int trapno = 0;
  uint64_t err = 0, cr2 = 0;
  NativeState regs{};
} g_fault;

void on_signal(int sig, siginfo_t* info, void* uc_void) {
  auto* uc = static_cast<ucontext_t*>(uc_void);
  const uint64_t rip = uc->uc_mcontext.gregs[REG_RIP];
  if (!g_in_native || rip < reinterpret_cast<uint64_t>(g_code) || rip >= reinterpret_cast<uint64_t>(g_code) + kPage) {
    signal(sig, SIG_DFL);
    return;  // a real crash of the harness: re-raised on return
  }
  g_fault.happened = true;
  g_fault.trapno = static_cast<int>(uc->uc_mcontext.gregs[REG_TRAPNO]);
  g_fault.err = uc->uc_mcontext.gregs[REG_ERR];
  g_fault.cr2 = reinterpret_cast<uint64_t>(info->si_addr);
  const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                         REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; ++i) g_fault.regs.gpr[i] = uc->uc_mcontext.gregs[order[i]];
  g_fault.regs.rflags = uc->uc_mcontext.gregs[REG_EFL];
  siglongjmp(g_jmp, 1);
}

// ---- a tiny encoder for the forms under test ----------------------------------------------
struct MemOp {
  int base = -1;   // register number, -1 none, 16+: EGPR; kRip for RIP-relative
  int index = -1;
  unsigned scale = 1;
  int64_t disp = 0;
  unsigned disp_bytes = 0;  // 0, 1, 4 (chosen by the generator; forced where the encoding needs it)
};
constexpr int kRip = 100;

struct Enc {
  bool rex2 = false;
  bool lock = false, opsize = false, addrsize = false;
  uint8_t rep = 0, seg = 0;
  bool w = false;
  bool force_rex = false;  // byte registers 4..7 = SPL..DIL
  unsigned map = 0;        // 0 or 1 (0F)
  uint8_t opcode = 0;
  bool modrm = true;
  unsigned reg = 0;        // ModRM.reg: register number (0..31) or /digit
  bool rm_is_reg = false;
  unsigned rm_reg = 0;
  MemOp mem;
  std::vector<uint8_t> imm;
  std::vector<uint8_t> moffs;  // A0-A3: the absolute address
};

std::vector<uint8_t> encode(const Enc& e, uint64_t rip, uint64_t rip_target) {
  std::vector<uint8_t> b;
  if (e.lock) b.push_back(0xF0);
  if (e.rep) b.push_back(e.rep);
  if (e.seg) b.push_back(e.seg);
  if (e.opsize) b.push_back(0x66);
  if (e.addrsize) b.push_back(0x67);
  const unsigned rmnum = e.rm_is_reg ? e.rm_reg : (e.mem.base >= 0 && e.mem.base != kRip ? e.mem.base : 0);
  const unsigned idx = e.mem.index >= 0 ? e.mem.index : 0;
  const unsigned R = (e.reg >> 3) & 1, R4 = (e.reg >> 4) & 1;
  const unsigned X = (e.rm_is_reg ? 0 : (idx >> 3) & 1), X4 = (e.rm_is_reg ? 0 : (idx >> 4) & 1);
  const unsigned B = (rmnum >> 3) & 1, B4 = (rmnum >> 4) & 1;
  if (e.rex2) {
    b.push_back(0xD5);
    b.push_back(static_cast<uint8_t>((e.map << 7) | (R4 << 6) | (X4 << 5) | (B4 << 4) | (e.w << 3) | (R << 2) | (X << 1) | B));
  } else {
    if (e.w || R || X || B || e.force_rex) b.push_back(static_cast<uint8_t>(0x40 | (e.w << 3) | (R << 2) | (X << 1) | B));
    if (e.map == 1) b.push_back(0x0F);
  }
  b.push_back(e.opcode);
  if (!e.modrm) {
    for (uint8_t x : e.moffs) b.push_back(x);
    for (uint8_t x : e.imm) b.push_back(x);
    return b;
  }
  const unsigned reg3 = e.reg & 7;
  if (e.rm_is_reg) {
    b.push_back(static_cast<uint8_t>(0xC0 | (reg3 << 3) | (e.rm_reg & 7)));
    for (uint8_t x : e.imm) b.push_back(x);
    return b;
  }
  size_t disp_pos = 0;
  unsigned disp_bytes = e.mem.disp_bytes;
  if (e.mem.base == kRip) {
    b.push_back(static_cast<uint8_t>((reg3 << 3) | 5));
    disp_pos = b.size();
    disp_bytes = 4;
  } else {
    const bool no_base = e.mem.base < 0;
    const bool has_index = e.mem.index >= 0;
    const unsigned base3 = no_base ? 5 : (e.mem.base & 7);
    const bool need_sib = has_index || no_base || base3 == 4;
    unsigned mod;
    if (no_base) {
      mod = 0;
      disp_bytes = 4;
    } else {
      if (disp_bytes == 0 && base3 == 5) disp_bytes = 1;  // [rbp]/[r13]/[r21]/[r29] need a displacement
      mod = disp_bytes == 0 ? 0 : disp_bytes == 1 ? 1 : 2;
    }
    if (need_sib) {
      b.push_back(static_cast<uint8_t>((mod << 6) | (reg3 << 3) | 4));
      const unsigned ss = e.mem.scale == 8 ? 3 : e.mem.scale == 4 ? 2 : e.mem.scale == 2 ? 1 : 0;
      const unsigned index3 = has_index ? (e.mem.index & 7) : 4;
      b.push_back(static_cast<uint8_t>((ss << 6) | (index3 << 3) | base3));
    } else {
      b.push_back(static_cast<uint8_t>((mod << 6) | (reg3 << 3) | base3));
    }
    disp_pos = b.size();
  }
  for (unsigned i = 0; i < disp_bytes; ++i) b.push_back(static_cast<uint8_t>(static_cast<uint64_t>(e.mem.disp) >> (8 * i)));
  for (uint8_t x : e.imm) b.push_back(x);
  if (e.mem.base == kRip) {
    const int64_t d = static_cast<int64_t>(rip_target - (rip + b.size()));
    for (unsigned i = 0; i < 4; ++i) b[disp_pos + i] = static_cast<uint8_t>(static_cast<uint64_t>(d) >> (8 * i));
  }
  return b;
}

// ---- cases ---------------------------------------------------------------------------------
std::mt19937_64 rng(20250901);
uint64_t rnd() { return rng(); }
unsigned below(unsigned n) { return static_cast<unsigned>(rng() % n); }
bool chance(unsigned percent) { return below(100) < percent; }

struct Case {
  std::string form;
  Enc enc;
  uint64_t regs[32];
  uint64_t flags;
  uint64_t undefined_flags = 0;  // SDM-undefined flags of this instruction
  uint64_t rip_target = 0;
};

// Registers the case uses (for REX2 renaming) and register choice helpers.
struct Picker {
  bool rex2;
  std::vector<unsigned> used;
  // low8: registers 0..7 only (no REX may be emitted); ah_ok: number 4 is allowed because it
  // names AH (a byte operand without REX), never RSP.
  unsigned pick(bool low8 = false, bool ah_ok = false) {
    for (;;) {
      const unsigned n = low8 ? below(8) : rex2 ? below(32) : below(16);
      if (n == RSP && !ah_ok) continue;
      bool dup = false;
      for (unsigned u : used) dup |= (u == n);
      if (dup) continue;
      used.push_back(n);
      return n;
    }
  }
};

enum class Target { rw, straddle_rw, straddle_ro, straddle_none, ro_page, none_page, noncanonical };

// A linear address for an access of `bytes`, maybe one that faults.
uint64_t pick_target(unsigned bytes, bool faults_ok, Target* kind) {
  const unsigned r = below(100);
  const unsigned b = bytes > 1 ? bytes : 2;
  if (faults_ok && r < 4) { *kind = Target::straddle_ro; return P(2) - 1 - below(b - 1); }
  if (faults_ok && r < 7) { *kind = Target::straddle_none; return P(3) - 1 - below(b - 1); }
  if (faults_ok && r < 9) { *kind = Target::none_page; return P(3) + below(4000); }
  if (faults_ok && r < 11) { *kind = Target::ro_page; return P(2) + below(4000); }
  if (faults_ok && r < 13) {
    // Non-canonical, or canonical at the start and not at the end. (Not: canonical addresses
    // in the top user page, whose native #PF depends on how the host kernel maps it.)
    *kind = Target::noncanonical;
    if (bytes == 1 || chance(50)) return 0x0000800000000000ull + below(64);
    return 0x0000800000000000ull - 1 - below(bytes - 1);
  }
  if (r < 25) { *kind = Target::straddle_rw; return P(1) - 1 - below(b - 1) + (bytes == 1 ? 1 : 0); }
  *kind = Target::rw;
  return P(0) + below(static_cast<unsigned>(2 * kPage - bytes));
}

// Fills enc.mem (and the base/index registers) so that the operand's effective address is
// `ea`, with a random addressing form. Address size 32 when enc.addrsize.
void address(Case& c, Picker& pk, uint64_t ea, bool byte_legacy) {
  MemOp& m = c.enc.mem;
  const bool a32 = c.enc.addrsize;
  const unsigned form = below(100);
  if (form < 8 && !a32 && ea < 0x7FFF0000ull) {  // RIP-relative (the code page is below 2 GiB too)
    m.base = kRip;
    c.rip_target = ea;
    return;
  }
  if (form < 14 && ea < 0x7FFF0000ull) {  // [disp32] or [index*s + disp32]
    m.base = -1;
    m.disp = static_cast<int32_t>(ea);
    if (chance(50)) {
      m.index = pk.pick(byte_legacy, false);
      m.scale = 1u << below(4);
      const int64_t iv = static_cast<int64_t>(below(64)) - 32;
      m.disp = static_cast<int32_t>(ea - static_cast<uint64_t>(iv) * m.scale);
      c.regs[m.index] = static_cast<uint64_t>(iv) & (a32 ? 0xFFFFFFFFull : ~0ull);
      if (a32) c.regs[m.index] |= rnd() << 32;
    }
    return;
  }
  m.base = pk.pick(byte_legacy, false);
  const unsigned db = below(3);
  m.disp_bytes = db == 0 ? 0 : db == 1 ? 1 : 4;
  m.disp = m.disp_bytes == 0 ? 0 : m.disp_bytes == 1 ? static_cast<int8_t>(rnd()) : static_cast<int32_t>(rnd() % 0x20000) - 0x10000;
  if ((m.base & 7) == 5 && m.disp_bytes == 0) m.disp_bytes = 1;
  uint64_t rest = ea - static_cast<uint64_t>(m.disp);
  if (chance(40)) {
    m.index = pk.pick(byte_legacy, false);
    m.scale = 1u << below(4);
    const int64_t iv = static_cast<int64_t>(below(512)) - 256;
    c.regs[m.index] = static_cast<uint64_t>(iv);
    rest -= static_cast<uint64_t>(iv) * m.scale;
    if (a32) c.regs[m.index] = (c.regs[m.index] & 0xFFFFFFFFull) | (rnd() << 32);
  }
  c.regs[m.base] = a32 ? ((rest & 0xFFFFFFFFull) | (rnd() << 32)) : rest;
}

void imm(Enc& e, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) e.imm.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Operand size: 8/16/32/64 (8 only where `byte_ok`).
unsigned pick_size(bool byte_ok) {
  const unsigned r = below(byte_ok ? 4 : 3);
  return byte_ok ? (8u << r) : (16u << r);
}
void set_size(Enc& e, unsigned bits) {
  e.opsize = bits == 16;
  e.w = bits == 64;
}

// The families of forms (legacy/REX; `rex2` renders the same form with EGPRs).
enum class Fam {
  mov_store, mov_load, mov_imm, moffs, movzx, movsx, movsxd, xchg, alu_store, alu_load, alu_imm, alu_acc,
  test_rr, test_imm, incdec, negnot, bt_reg, bt_imm, setcc, cmovcc, stos, movs, lock_rmw,
};
struct FormDef {
  const char* name;
  Fam fam;
  bool rex2_ok;
};
const FormDef kForms[] = {
    {"MOV r/m,r (88/89)", Fam::mov_store, true},     {"MOV r,r/m (8A/8B)", Fam::mov_load, true},
    {"MOV r/m,imm (C6/C7)", Fam::mov_imm, true},     {"MOV moffs (A0-A3)", Fam::moffs, false},
    {"MOVZX (0F B6/B7)", Fam::movzx, true},          {"MOVSX (0F BE/BF)", Fam::movsx, true},
    {"MOVSXD (63)", Fam::movsxd, true},              {"XCHG r/m,r (86/87)", Fam::xchg, true},
    {"ALU r/m,r (00-39)", Fam::alu_store, true},     {"ALU r,r/m (02-3B)", Fam::alu_load, true},
    {"ALU r/m,imm (80/81/83)", Fam::alu_imm, true},  {"ALU acc,imm (04-3D)", Fam::alu_acc, false},
    {"TEST r/m,r (84/85)", Fam::test_rr, true},      {"TEST r/m,imm (F6/F7 /0 /1)", Fam::test_imm, true},
    {"INC/DEC (FE/FF /0 /1)", Fam::incdec, true},    {"NEG/NOT (F6/F7 /2 /3)", Fam::negnot, true},
    {"BT* r/m,r (0F A3/AB/B3/BB)", Fam::bt_reg, true}, {"BT* r/m,imm (0F BA /4-/7)", Fam::bt_imm, true},
    {"SETcc (0F 90-9F)", Fam::setcc, true},          {"CMOVcc (0F 40-4F)", Fam::cmovcc, true},
    {"STOS (AA/AB) [REP]", Fam::stos, false},        {"MOVS (A4/A5) [REP]", Fam::movs, false},
    {"LOCK ALU/INC/DEC/NEG/NOT/BT*", Fam::lock_rmw, true},
};

// Builds one random case of `fam`; rex2 = encode with REX2 and registers 0..31.
Case make_case(const FormDef& f, bool rex2) {
  Case c;
  c.form = f.name;
  for (auto& r : c.regs) r = rnd();
  c.flags = 0x202 | (rnd() & kStatus);
  Enc& e = c.enc;
  e.rex2 = rex2;
  Picker pk{rex2, {}};
  Target kind = Target::rw;
  const bool rm_reg = chance(15);  // register form of an r/m operand

  auto byte_regs = [&](unsigned bits) {
    // Byte operands: either legacy (no REX: 4..7 = AH..BH, all registers < 8) or with REX.
    return bits == 8 && !rex2 && chance(50);
  };
  auto rm_operand = [&](unsigned bits, bool writes, bool legacy8) {
    if (rm_reg) {
      e.rm_is_reg = true;
      e.rm_reg = pk.pick(legacy8, legacy8 && bits == 8);
      return;
    }
    e.addrsize = chance(12);
    const uint64_t t = pick_target(bits / 8, true, &kind);
    (void)writes;
    if (e.addrsize && kind == Target::noncanonical) {
      address(c, pk, P(0) + 64, legacy8);
      return;
    }
    address(c, pk, t, legacy8);
  };
  auto finish_byte_rex = [&](unsigned bits, bool legacy8) {
    if (bits == 8 && !legacy8) e.force_rex = true;
  };

  switch (f.fam) {
    case Fam::mov_store:
    case Fam::mov_load:
    case Fam::xchg:
    case Fam::alu_store:
    case Fam::alu_load:
    case Fam::test_rr:
    case Fam::lock_rmw: {
      const unsigned bits = pick_size(true);
      const bool l8 = byte_regs(bits);
      set_size(e, bits);
      const unsigned op = below(8);  // ADD OR ADC SBB AND SUB XOR CMP
      if (f.fam == Fam::lock_rmw) {
        // LOCK with a memory destination: ALU (not CMP), INC/DEC/NEG/NOT, BTS/BTR/BTC, XCHG.
        e.lock = true;
        const unsigned which = below(4);
        if (which == 0) {
          e.opcode = static_cast<uint8_t>((below(7) * 8) | (bits == 8 ? 0 : 1));
          e.reg = pk.pick(l8, l8);
          c.undefined_flags = ((e.opcode >> 3) == 1 || (e.opcode >> 3) == 4 || (e.opcode >> 3) == 6) ? AF : 0;
        } else if (which == 1) {
          e.opcode = bits == 8 ? 0xFE : 0xFF;
          e.reg = below(2);
          if (chance(50)) { e.opcode = bits == 8 ? 0xF6 : 0xF7; e.reg = 2 + below(2); }
        } else if (which == 2) {
          e.opcode = bits == 8 ? 0x86 : 0x87;
          e.lock = chance(50);
          e.reg = pk.pick(l8, l8);
        } else {
          const unsigned b2 = 16u << below(3);
          set_size(e, b2);
          e.map = 1;
          e.opcode = static_cast<uint8_t>(0xAB + 8 * below(3));  // BTS BTR BTC
          e.reg = pk.pick();
          c.undefined_flags = OF | SF | AF | PF;
          const int64_t off = static_cast<int64_t>(below(4096)) - 2048;
          const unsigned shift = b2 == 16 ? 4 : b2 == 32 ? 5 : 6;
          c.regs[e.reg] = static_cast<uint64_t>(off);
          const uint64_t t = pick_target(b2 / 8, true, &kind);
          address(c, pk, t - static_cast<uint64_t>((off >> shift) * static_cast<int64_t>(b2 / 8)), false);
          break;
        }
        finish_byte_rex(bits, l8);
        rm_operand(bits, true, l8);
        if (e.rm_is_reg) { e.rm_is_reg = false; address(c, pk, P(0) + below(4000), l8); }
        break;
      }
      e.reg = pk.pick(l8, l8);
      switch (f.fam) {
        case Fam::mov_store: e.opcode = bits == 8 ? 0x88 : 0x89; break;
        case Fam::mov_load: e.opcode = bits == 8 ? 0x8A : 0x8B; break;
        case Fam::xchg: e.opcode = bits == 8 ? 0x86 : 0x87; break;
        case Fam::test_rr: e.opcode = bits == 8 ? 0x84 : 0x85; c.undefined_flags = AF; break;
        case Fam::alu_store:
          e.opcode = static_cast<uint8_t>(op * 8 + (bits == 8 ? 0 : 1));
          c.undefined_flags = (op == 1 || op == 4 || op == 6) ? AF : 0;
          break;
        default:
          e.opcode = static_cast<uint8_t>(op * 8 + (bits == 8 ? 2 : 3));
          c.undefined_flags = (op == 1 || op == 4 || op == 6) ? AF : 0;
          break;
      }
      finish_byte_rex(bits, l8);
      rm_operand(bits, true, l8);
      break;
    }
    case Fam::mov_imm:
    case Fam::alu_imm:
    case Fam::test_imm:
    case Fam::incdec:
    case Fam::negnot:
    case Fam::setcc: {
      unsigned bits = f.fam == Fam::setcc ? 8 : pick_size(true);
      const bool l8 = byte_regs(bits);
      set_size(e, bits);
      const unsigned ib = bits == 8 ? 1 : bits == 16 ? 2 : 4;
      switch (f.fam) {
        case Fam::mov_imm:
          e.opcode = bits == 8 ? 0xC6 : 0xC7;
          e.reg = 0;
          imm(e, rnd(), ib);
          break;
        case Fam::alu_imm: {
          const unsigned op = below(8);
          e.reg = op;
          c.undefined_flags = (op == 1 || op == 4 || op == 6) ? AF : 0;
          if (bits == 8) { e.opcode = 0x80; imm(e, rnd(), 1); }
          else if (chance(50)) { e.opcode = 0x83; imm(e, rnd(), 1); }
          else { e.opcode = 0x81; imm(e, rnd(), ib); }
          break;
        }
        case Fam::test_imm:
          e.opcode = bits == 8 ? 0xF6 : 0xF7;
          e.reg = chance(80) ? 0 : 1;
          c.undefined_flags = AF;
          imm(e, rnd(), ib);
          break;
        case Fam::incdec: e.opcode = bits == 8 ? 0xFE : 0xFF; e.reg = below(2); break;
        case Fam::negnot: e.opcode = bits == 8 ? 0xF6 : 0xF7; e.reg = 2 + below(2); break;
        default:
          e.map = 1;
          e.opcode = static_cast<uint8_t>(0x90 + below(16));
          e.reg = below(8);  // ignored by SETcc
          e.opsize = chance(20);  // 66 does not change SETcc
          break;
      }
      finish_byte_rex(bits, l8);
      rm_operand(bits, true, l8);
      break;
    }
    case Fam::movzx:
    case Fam::movsx: {
      const unsigned src = chance(50) ? 8 : 16;
      unsigned dst = 16u << below(3);
      if (src == 16 && dst == 16) dst = 32;
      set_size(e, dst);
      e.map = 1;
      e.opcode = static_cast<uint8_t>((f.fam == Fam::movzx ? 0xB6 : 0xBE) + (src == 16 ? 1 : 0));
      const bool l8 = src == 8 && !rex2 && !e.w && chance(50);
      e.reg = pk.pick(l8, false);  // the destination is 16/32/64-bit: never RSP
      if (src == 8 && !l8) e.force_rex = true;
      rm_operand(src, false, l8);
      break;
    }
    case Fam::movsxd: {
      const unsigned dst = chance(70) ? 64 : chance(50) ? 32 : 16;
      set_size(e, dst);
      e.opcode = 0x63;
      e.reg = pk.pick();
      rm_operand(dst == 64 ? 32 : dst, false, false);
      break;
    }
    case Fam::cmovcc: {
      const unsigned bits = pick_size(false);
      set_size(e, bits);
      e.map = 1;
      e.opcode = static_cast<uint8_t>(0x40 + below(16));
      e.reg = pk.pick();
      rm_operand(bits, false, false);
      break;
    }
    case Fam::bt_reg:
    case Fam::bt_imm: {
      const unsigned bits = pick_size(false);
      set_size(e, bits);
      e.map = 1;
      c.undefined_flags = OF | SF | AF | PF;
      const unsigned shift = bits == 16 ? 4 : bits == 32 ? 5 : 6;
      if (f.fam == Fam::bt_imm) {
        e.opcode = 0xBA;
        e.reg = 4 + below(4);
        imm(e, rnd(), 1);
        rm_operand(bits, true, false);
      } else {
        e.opcode = static_cast<uint8_t>(0xA3 + 8 * below(4));  // BT BTS BTR BTC
        e.reg = pk.pick();
        if (rm_reg) {
          e.rm_is_reg = true;
          e.rm_reg = pk.pick();
        } else {
          const int64_t off = static_cast<int64_t>(below(1 << 16)) - (1 << 15);
          c.regs[e.reg] = bits == 64 ? static_cast<uint64_t>(off) : (rnd() << bits) | (static_cast<uint64_t>(off) & ((1ull << bits) - 1));
          e.addrsize = chance(10);
          const uint64_t t = pick_target(bits / 8, !e.addrsize, &kind);
          const int64_t soff = bits == 16 ? static_cast<int16_t>(off) : bits == 32 ? static_cast<int32_t>(off) : off;
          address(c, pk, t - static_cast<uint64_t>((soff >> shift) * static_cast<int64_t>(bits / 8)), false);
        }
      }
      break;
    }
    case Fam::moffs: {
      const unsigned bits = pick_size(true);
      set_size(e, bits);
      const bool store = chance(50);
      e.opcode = static_cast<uint8_t>(0xA0 + (store ? 2 : 0) + (bits == 8 ? 0 : 1));
      e.modrm = false;
      e.addrsize = chance(25);
      uint64_t t = pick_target(bits / 8, !e.addrsize, &kind);
      if (!e.addrsize && chance(20)) {
        e.seg = 0x65;  // GS base (set with arch_prctl) is added
        t -= g_gs_base;
      }
      for (unsigned i = 0; i < (e.addrsize ? 4u : 8u); ++i) e.moffs.push_back(static_cast<uint8_t>(t >> (8 * i)));
      break;
    }
    case Fam::alu_acc: {
      const unsigned bits = pick_size(true);
      set_size(e, bits);
      const unsigned op = below(8);
      c.undefined_flags = (op == 1 || op == 4 || op == 6) ? AF : 0;
      e.modrm = false;
      e.opcode = static_cast<uint8_t>(op * 8 + (bits == 8 ? 4 : 5));
      if (chance(25)) { e.opcode = bits == 8 ? 0xA8 : 0xA9; c.undefined_flags = AF; }  // TEST acc, imm
      imm(e, rnd(), bits == 8 ? 1 : bits == 16 ? 2 : 4);
      break;
    }
    case Fam::stos:
    case Fam::movs: {
      const unsigned bits = pick_size(true);
      set_size(e, bits);
      const bool movs = f.fam == Fam::movs;
      e.modrm = false;
      e.opcode = static_cast<uint8_t>((movs ? 0xA4 : 0xAA) + (bits == 8 ? 0 : 1));
      e.rep = chance(70) ? (chance(85) ? 0xF3 : 0xF2) : 0;
      e.addrsize = chance(15);
      const bool down = chance(30);
      if (down) c.flags |= DF; else c.flags &= ~DF;
      const unsigned bytes = bits / 8;
      const unsigned count = e.rep ? below(40) : 1;
      const uint64_t span = static_cast<uint64_t>(count) * bytes;
      uint64_t rdi, rsi;
      const unsigned where = below(100);
      if (where < 12 && e.rep) {         // runs into the read-only page
        rdi = down ? P(2) + 8 * 4 + below(32) : P(2) - span / 2 - 1;
      } else {
        rdi = down ? P(0) + 400 + below(7000) : P(0) + below(static_cast<unsigned>(2 * kPage - span - 8));
      }
      rsi = down ? P(0) + 400 + below(7000) : P(0) + below(static_cast<unsigned>(2 * kPage - span - 8));
      if (movs && where >= 12 && where < 18 && e.rep) rsi = down ? P(3) + 8 * 4 + below(32) : P(3) - span / 2 - 1;
      if (movs && !e.addrsize && chance(10)) {
        e.seg = 0x65;  // DS:rSI can be overridden (ES:rDI cannot)
        rsi -= g_gs_base;
      }
      c.regs[1] = e.rep ? count : rnd();
      c.regs[7] = rdi;
      c.regs[6] = rsi;
      if (e.addrsize) {
        c.regs[1] = (c.regs[1] & 0xFFFFFFFFull) | (rnd() << 32);
        c.regs[7] = (c.regs[7] & 0xFFFFFFFFull) | (rnd() << 32);
        c.regs[6] = (c.regs[6] & 0xFFFFFFFFull) | (rnd() << 32);
      }
      break;
    }
  }
  (void)kind;
  return c;
}

// ---- running and comparing -----------------------------------------------------------------
struct Stats {
  unsigned pass = 0, fail = 0, undefined_differ = 0, native_faults = 0;
};

std::string hex(const std::vector<uint8_t>& b) {
  std::string s;
  char t[4];
  for (uint8_t x : b) { snprintf(t, sizeof t, "%02x ", x); s += t; }
  return s;
}

HostPhys g_phys;
uint64_t g_cr3 = 0;
unsigned g_vectors[32];  // native faults by vector, over all cases
unsigned g_failures_printed = 0;

// rename[n] = the legacy register standing in for EGPR n (REX2 cases), 0xFF if none.
bool run_case(const Case& c, Stats& st, const char* label) {
  Enc native_enc = c.enc;
  uint8_t rename[32];
  memset(rename, 0xFF, sizeof rename);
  if (c.enc.rex2) {
    // Registers of the case (reg field, r/m register, base, index).
    std::vector<unsigned> used;
    auto note = [&](int r) { if (r >= 0 && r != kRip) used.push_back(static_cast<unsigned>(r)); };
    const bool reg_is_register = !(c.enc.opcode == 0xC6 || c.enc.opcode == 0xC7 || c.enc.opcode == 0x80 ||
                                   c.enc.opcode == 0x81 || c.enc.opcode == 0x83 || c.enc.opcode == 0xF6 ||
                                   c.enc.opcode == 0xF7 || c.enc.opcode == 0xFE || c.enc.opcode == 0xFF ||
                                   (c.enc.map == 1 && (c.enc.opcode == 0xBA || (c.enc.opcode & 0xF0) == 0x90)));
    if (reg_is_register) note(static_cast<int>(c.enc.reg));
    if (c.enc.rm_is_reg) note(static_cast<int>(c.enc.rm_reg)); else { note(c.enc.mem.base); note(c.enc.mem.index); }
    std::vector<unsigned> free;
    for (unsigned l = 0; l < 16; ++l) {
      bool u = l == RSP;
      for (unsigned x : used) u |= x == l;
      if (!u) free.push_back(l);
    }
    auto map = [&](unsigned n) -> unsigned {
      if (n < 16) return n;
      if (rename[n] == 0xFF) { rename[n] = static_cast<uint8_t>(free.back()); free.pop_back(); }
      return rename[n];
    };
    native_enc.rex2 = false;
    if (reg_is_register) native_enc.reg = map(c.enc.reg);
    if (c.enc.rm_is_reg) native_enc.rm_reg = map(c.enc.rm_reg);
    else {
      if (c.enc.mem.base >= 16 && c.enc.mem.base != kRip) native_enc.mem.base = static_cast<int>(map(static_cast<unsigned>(c.enc.mem.base)));
      if (c.enc.mem.index >= 16) native_enc.mem.index = static_cast<int>(map(static_cast<unsigned>(c.enc.mem.index)));
    }
    native_enc.force_rex = true;  // REX2 byte registers 4..7 are SPL..DIL, as with REX
  }
  const uint64_t rip = reinterpret_cast<uint64_t>(g_code);
  const std::vector<uint8_t> bytes = encode(c.enc, rip, c.rip_target);
  const std::vector<uint8_t> nbytes = encode(native_enc, rip, c.rip_target);

  // Initial memory.
  for (unsigned i = 0; i < 2 * kPage; i += 8) { uint64_t v = rnd(); memcpy(g_data + i, &v, 8); }
  std::vector<uint8_t> initial(g_data, g_data + 2 * kPage);

  // ---- native ----
  NativeState ns;
  for (unsigned i = 0; i < 16; ++i) ns.gpr[i] = c.regs[i];
  for (unsigned n = 16; n < 32; ++n) if (rename[n] != 0xFF) ns.gpr[rename[n]] = c.regs[n];
  ns.rflags = c.flags;
  memcpy(g_code, nbytes.data(), nbytes.size());
  g_code[nbytes.size()] = 0xC3;
  g_fault.happened = false;
  if (sigsetjmp(g_jmp, 1) == 0) {
    g_in_native = 1;
    native_run(&ns, g_code);
    g_in_native = 0;
  } else {
    g_in_native = 0;
    ns = g_fault.regs;
  }
  const NativeFault nf = g_fault;
  std::vector<uint8_t> native_mem(g_data, g_data + 2 * kPage);
  memcpy(g_data, initial.data(), initial.size());

  // ---- emulated ----
  uint64_t gpr[32];
  memcpy(gpr, c.regs, sizeof gpr);
  PagingState ps;
  ps.cr0 = 0x80010001;  // PG WP PE
  ps.cr3 = g_cr3;
  ps.cr4 = 0x20;        // PAE
  ps.efer = 0xD00;      // NXE LMA LME
  ps.cpl = 3;
  GuestLinearMemory mem(g_phys, ps);
  emu::EmuContext ctx;
  ctx.gpr = gpr;
  ctx.rflags = c.flags;
  ctx.rip = rip;
  ctx.mode = decode::CpuMode::bits64;
  ctx.cpl = 3;
  ctx.mem = &mem;
  ctx.rep_budget = 0;
  ctx.seg[5].base = g_gs_base;
  const decode::Instruction insn = decode::decode(bytes.data(), bytes.size(), decode::CpuMode::bits64, true);
  const emu::Result r = emu::emulate(insn, ctx);
  std::vector<uint8_t> emu_mem(g_data, g_data + 2 * kPage);
  memcpy(g_data, initial.data(), initial.size());

  // ---- compare ----
  std::string why;
  char buf[256];
  if (nf.happened) {
    ++st.native_faults;
    const int vec = nf.trapno;
    ++g_vectors[vec & 31];
    if (r.outcome != emu::Outcome::fault) {
      snprintf(buf, sizeof buf, "native trap %d err %#llx cr2 %#llx, emulator %s (%s)", vec, (unsigned long long)nf.err,
               (unsigned long long)nf.cr2, emu::outcome_name(r.outcome), emu::unsupported_text(r.why));
      why = buf;
    } else if (r.exception.vector != vec) {
      snprintf(buf, sizeof buf, "vector native %d emulator %d", vec, r.exception.vector);
      why = buf;
    } else if (vec == 14 && (r.exception.error_code != (nf.err & 0x3F) || r.exception.cr2 != nf.cr2)) {
      snprintf(buf, sizeof buf, "#PF native err %#llx cr2 %#llx, emulator err %#x cr2 %#llx", (unsigned long long)nf.err,
               (unsigned long long)nf.cr2, r.exception.error_code, (unsigned long long)r.exception.cr2);
      why = buf;
    } else if (ctx.rip != rip) {
      why = "emulator advanced RIP on a fault";
    }
  } else if (r.outcome != emu::Outcome::ok || !r.completed) {
    snprintf(buf, sizeof buf, "native ok, emulator %s (%s) vector %d err %#x cr2 %#llx", emu::outcome_name(r.outcome),
             emu::unsupported_text(r.why), r.exception.vector, r.exception.error_code, (unsigned long long)r.exception.cr2);
    why = buf;
  } else if (ctx.rip != rip + bytes.size()) {
    why = "RIP not advanced by the length";
  }
  if (why.empty()) {
    // Registers: legacy ones (except RSP, and the stand-ins for EGPRs), then the EGPRs.
    for (unsigned i = 0; i < 16 && why.empty(); ++i) {
      if (i == RSP) continue;
      bool stand_in = false;
      for (unsigned n = 16; n < 32; ++n) stand_in |= rename[n] == i;
      const uint64_t want = stand_in ? c.regs[i] : ns.gpr[i];
      if (gpr[i] != want) { snprintf(buf, sizeof buf, "gpr[%u] native %#llx emulator %#llx", i, (unsigned long long)want, (unsigned long long)gpr[i]); why = buf; }
    }
    for (unsigned n = 16; n < 32 && why.empty(); ++n) {
      const uint64_t want = rename[n] != 0xFF ? ns.gpr[rename[n]] : c.regs[n];
      if (gpr[n] != want) { snprintf(buf, sizeof buf, "gpr[%u] expected %#llx emulator %#llx", n, (unsigned long long)want, (unsigned long long)gpr[n]); why = buf; }
    }
    const uint64_t defined = (kStatus | DF) & ~c.undefined_flags;
    if (why.empty() && (ctx.rflags & defined) != (ns.rflags & defined)) {
      snprintf(buf, sizeof buf, "flags native %#llx emulator %#llx (compared %#llx)", (unsigned long long)(ns.rflags & 0xFFF),
               (unsigned long long)(ctx.rflags & 0xFFF), (unsigned long long)defined);
      why = buf;
    }
    if (why.empty() && native_mem != emu_mem) {
      for (size_t i = 0; i < native_mem.size(); ++i)
        if (native_mem[i] != emu_mem[i]) {
          snprintf(buf, sizeof buf, "memory at %#llx native %02x emulator %02x", (unsigned long long)(P(0) + i), native_mem[i], emu_mem[i]);
          why = buf;
          break;
        }
    }
    if (why.empty() && !nf.happened && (ctx.rflags & c.undefined_flags & kStatus) != (ns.rflags & c.undefined_flags & kStatus))
      ++st.undefined_differ;
  }
  if (why.empty()) {
    ++st.pass;
    return true;
  }
  ++st.fail;
  if (g_failures_printed++ < 40) {
    char text[128] = "?";
    decode::format_intel(insn, text, sizeof text);
    fprintf(stderr, "FAIL [%s] %s: %s\n  bytes %s(native %s)\n  %s\n", label, c.form.c_str(), text, hex(bytes).c_str(),
            hex(nbytes).c_str(), why.c_str());
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned per_form = 400;
  if (argc > 1) per_form = static_cast<unsigned>(atoi(argv[1]));

  g_data = static_cast<uint8_t*>(mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  g_code = static_cast<uint8_t*>(mmap(nullptr, kPage, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  g_tables = static_cast<uint8_t*>(aligned_alloc(kPage, 8 * kPage));
  if (g_data == MAP_FAILED || g_code == MAP_FAILED || !g_tables) {
    perror("mmap");
    return 1;
  }
  for (unsigned i = 0; i < kPage; ++i) g_data[2 * kPage + i] = static_cast<uint8_t>(i * 7);
  mprotect(g_data + 2 * kPage, kPage, PROT_READ);
  mprotect(g_data + 3 * kPage, kPage, PROT_NONE);
  g_cr3 = build_tables();
  g_gs_base = P(0) + 0x800;
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, g_gs_base) != 0) {
    perror("arch_prctl(ARCH_SET_GS)");
    return 1;
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  sigaction(SIGILL, &sa, nullptr);

  printf("native differential test: %u cases per form and encoding, seed 20250901\n", per_form);
  printf("%-34s %8s %6s %6s %8s %10s\n", "form", "encoding", "pass", "fail", "faults", "undef-diff");
  unsigned total_pass = 0, total_fail = 0;
  for (const FormDef& f : kForms) {
    for (int rex2 = 0; rex2 < (f.rex2_ok ? 2 : 1); ++rex2) {
      Stats st;
      for (unsigned i = 0; i < per_form; ++i) {
        const Case c = make_case(f, rex2 != 0);
        run_case(c, st, rex2 ? "REX2" : "legacy");
      }
      printf("%-34s %8s %6u %6u %8u %10u\n", f.name, rex2 ? "REX2" : "leg/REX", st.pass, st.fail, st.native_faults,
             st.undefined_differ);
      total_pass += st.pass;
      total_fail += st.fail;
    }
  }
  printf("native faults compared: #PF %u, #GP %u, #SS %u, #UD %u\n", g_vectors[14], g_vectors[13], g_vectors[12],
         g_vectors[6]);
  printf("total: %u passed, %u failed\n", total_pass, total_fail);
  return total_fail ? 1 : 0;
}
