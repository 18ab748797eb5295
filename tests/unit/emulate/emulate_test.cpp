// emulate(): one row per instruction form and mode — registers, memory and RFLAGS before and
// after. Encodings come from llvm-mc 19 (`-show-encoding`, `-mattr=+egpr` for REX2). Flags
// are computed by hand from the SDM "Flags Affected" sections. 64-bit-mode legacy/REX forms
// are also checked against this CPU by tests/emulate/native_diff.cpp.
#include <catch.hpp>

#include "decode/emulate/segmentation.hpp"
#include "emulate_test_support.hpp"

using namespace emu_test;
using decode::CpuMode;
using emu::Outcome;

namespace {

constexpr uint64_t CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
constexpr uint64_t ALL = CF | PF | AF | ZF | SF | OF;

struct R {
  unsigned n;
  uint64_t v;
};
struct M {
  uint64_t a;
  Bytes b;
};
enum : unsigned { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15, R16, R17, R18,
                  R19, R20, R21, R22, R23, R24, R25, R26, R27, R28, R29, R30, R31 };

constexpr uint64_t pattern(unsigned i) { return 0x5A5A5A5A00000000ull | (uint64_t{i} << 8) | i; }

// A guest with RAM at 0..0x40000, paging off, flat segments (16-bit: 64 KiB segments).
struct Machine {
  FakePhys phys;
  GuestLinearMemory mem;
  uint64_t gpr[32];
  emu::EmuContext ctx;

  explicit Machine(CpuMode mode) : mem(phys, flat_state(mode)) {
    phys.map_ram(0, 0x40000);
    for (unsigned i = 0; i < 32; ++i) gpr[i] = pattern(i);
    ctx.gpr = gpr;
    ctx.mem = &mem;
    ctx.mode = mode;
    ctx.rip = 0x1000;
    if (mode == CpuMode::bits16) {
      for (auto& s : ctx.seg) {
        s.limit = 0xFFFF;
        s.access_rights = 0x93;
      }
      ctx.seg[1].access_rights = 0x9B;
    } else if (mode == CpuMode::bits32) {
      ctx.seg[1].access_rights = 0xC09B;
    } else {
      ctx.seg[1].access_rights = 0xA09B;
    }
  }
};

struct Row {
  const char* name;
  CpuMode mode;
  Bytes code;
  std::vector<R> regs;      // before (others: pattern(i))
  uint64_t flags;           // before (status flags, DF)
  std::vector<M> mem;       // before
  std::vector<R> regs_out;  // after: the registers that change
  uint64_t flags_out;       // after
  std::vector<M> mem_out;   // after
  uint64_t ds_base = 0, es_base = 0, ss_base = 0, fs_base = 0, gs_base = 0;
};

constexpr CpuMode B64 = CpuMode::bits64, B32 = CpuMode::bits32, B16 = CpuMode::bits16;

const Row kRows[] = {
    // ---- MOV -------------------------------------------------------------------------------
    {"mov [rdi], eax", B64, {0x89, 0x07}, {{RDI, 0x2000}, {RAX, 0x1122334455667788}}, 0, {{0x2000, {0, 0, 0, 0, 0xEE}}},
     {}, 0, {{0x2000, {0x88, 0x77, 0x66, 0x55, 0xEE}}}},
    {"mov rax, [rdi]", B64, {0x48, 0x8B, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {1, 2, 3, 4, 5, 6, 7, 8}}},
     {{RAX, 0x0807060504030201}}, 0, {}},
    {"mov [rdi], ah", B64, {0x88, 0x27}, {{RDI, 0x2000}, {RAX, 0x1122334455667788}}, 0, {}, {}, 0, {{0x2000, {0x77}}}},
    {"mov [rdi], spl (REX)", B64, {0x40, 0x88, 0x27}, {{RDI, 0x2000}, {RSP, 0x7FFFABCD}}, 0, {}, {}, 0, {{0x2000, {0xCD}}}},
    {"mov [rdi+4*rsi+8], ecx", B64, {0x89, 0x4C, 0xB7, 0x08}, {{RDI, 0x2000}, {RSI, 2}, {RCX, 0xDEADBEEF}}, 0, {}, {}, 0,
     {{0x2010, {0xEF, 0xBE, 0xAD, 0xDE}}}},
    {"mov qword [rdi], -1 (imm32 sign-extended)", B64, {0x48, 0xC7, 0x07, 0xFF, 0xFF, 0xFF, 0xFF}, {{RDI, 0x2000}}, 0, {},
     {}, 0, {{0x2000, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}}},
    {"mov word [rdi], 0x1234", B64, {0x66, 0xC7, 0x07, 0x34, 0x12}, {{RDI, 0x2000}}, 0, {{0x2000, {0, 0, 0xAA}}}, {}, 0,
     {{0x2000, {0x34, 0x12, 0xAA}}}},
    {"mov byte [rdi], 0x80", B64, {0xC6, 0x07, 0x80}, {{RDI, 0x2000}}, 0, {}, {}, 0, {{0x2000, {0x80}}}},
    {"mov eax, [rip+0x100] (zero-extends)", B64, {0x8B, 0x05, 0x00, 0x01, 0x00, 0x00}, {}, 0,
     {{0x1106, {0x44, 0x33, 0x22, 0x11}}}, {{RAX, 0x11223344}}, 0, {}},
    {"movabs al, [moffs64]", B64, {0xA0, 0x00, 0x20, 0, 0, 0, 0, 0, 0}, {{RAX, ~0ull}}, 0, {{0x2000, {0x42}}},
     {{RAX, 0xFFFFFFFFFFFFFF42}}, 0, {}},
    {"movabs [moffs64], rax", B64, {0x48, 0xA3, 0x00, 0x20, 0, 0, 0, 0, 0, 0}, {{RAX, 0x0102030405060708}}, 0, {}, {},
     0, {{0x2000, {8, 7, 6, 5, 4, 3, 2, 1}}}},
    {"mov eax, fs:[moffs64]", B64, {0x64, 0xA1, 0x10, 0, 0, 0, 0, 0, 0, 0}, {}, 0, {{0x3010, {1, 2, 3, 4}}},
     {{RAX, 0x04030201}}, 0, {}, 0, 0, 0, 0x3000},
    {"mov al, fs:[rdi]", B64, {0x64, 0x8A, 0x07}, {{RDI, 0x2000}, {RAX, 0}}, 0, {{0x3000, {0x99}}}, {{RAX, 0x99}}, 0,
     {}, 0, 0, 0, 0x1000},
    {"mov gs:[rdi+0x10], eax", B64, {0x65, 0x89, 0x47, 0x10}, {{RDI, 0x2000}, {RAX, 0xAABBCCDD}}, 0, {}, {}, 0,
     {{0x3010, {0xDD, 0xCC, 0xBB, 0xAA}}}, 0, 0, 0, 0, 0x1000},
    {"mov eax, [edi] (67: 32-bit address)", B64, {0x67, 0x8B, 0x07}, {{RDI, 0xFFFFFFFF00002000}}, 0,
     {{0x2000, {1, 0, 0, 0}}}, {{RAX, 1}}, 0, {}},
    {"ds/es base ignored in 64-bit mode", B64, {0x26, 0x8B, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {7, 0, 0, 0}}},
     {{RAX, 7}}, 0, {}, 0x5000, 0x5000, 0x5000},
    // ---- MOVZX / MOVSX / MOVSXD ----------------------------------------------------------
    {"movzx eax, byte [rdi]", B64, {0x0F, 0xB6, 0x07}, {{RDI, 0x2000}, {RAX, ~0ull}}, 0, {{0x2000, {0x80}}},
     {{RAX, 0x80}}, 0, {}},
    {"movzx r9, word [rdi]", B64, {0x4C, 0x0F, 0xB7, 0x0F}, {{RDI, 0x2000}}, 0, {{0x2000, {0xFF, 0xFF}}},
     {{R9, 0xFFFF}}, 0, {}},
    {"movsx rax, word [rdi]", B64, {0x48, 0x0F, 0xBF, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {0x00, 0x80}}},
     {{RAX, 0xFFFFFFFFFFFF8000}}, 0, {}},
    {"movsx cx, byte [rdi] (16-bit keeps the rest)", B64, {0x66, 0x0F, 0xBE, 0x0F}, {{RDI, 0x2000}, {RCX, 0x1111111111111111}},
     0, {{0x2000, {0x80}}}, {{RCX, 0x111111111111FF80}}, 0, {}},
    {"movsxd rax, [rdi]", B64, {0x48, 0x63, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {0, 0, 0, 0x80}}},
     {{RAX, 0xFFFFFFFF80000000}}, 0, {}},
    // ---- XCHG ------------------------------------------------------------------------------
    {"xchg [rdi], ecx", B64, {0x87, 0x0F}, {{RDI, 0x2000}, {RCX, 0xAAAAAAAA11223344}}, 0,
     {{0x2000, {0x88, 0x77, 0x66, 0x55}}}, {{RCX, 0x55667788}}, 0, {{0x2000, {0x44, 0x33, 0x22, 0x11}}}},
    {"xchg [rdi], bh", B64, {0x86, 0x3F}, {{RDI, 0x2000}, {RBX, 0x1234}}, 0, {{0x2000, {0x99}}}, {{RBX, 0x9934}}, 0,
     {{0x2000, {0x12}}}},
    // ---- ADD ADC SUB SBB AND OR XOR CMP TEST ----------------------------------------------
    {"add [rdi], eax: carry, zero", B64, {0x01, 0x07}, {{RDI, 0x2000}, {RAX, 1}}, 0, {{0x2000, {0xFF, 0xFF, 0xFF, 0xFF}}},
     {}, CF | ZF | PF | AF, {{0x2000, {0, 0, 0, 0}}}},
    {"add byte [rdi], 1: overflow", B64, {0x80, 0x07, 0x01}, {{RDI, 0x2000}}, 0, {{0x2000, {0x7F}}}, {},
     OF | SF | AF, {{0x2000, {0x80}}}},
    {"adc qword [rdi], rax with CF", B64, {0x48, 0x11, 0x07}, {{RDI, 0x2000}, {RAX, 0xFFFFFFFFFFFFFFFE}}, CF,
     {{0x2000, {1, 0, 0, 0, 0, 0, 0, 0}}}, {}, CF | ZF | PF | AF, {{0x2000, {0, 0, 0, 0, 0, 0, 0, 0}}}},
    {"sub word [rdi], ax: borrow", B64, {0x66, 0x29, 0x07}, {{RDI, 0x2000}, {RAX, 1}}, 0, {{0x2000, {0, 0}}}, {},
     CF | SF | PF | AF, {{0x2000, {0xFF, 0xFF}}}},
    {"sbb dword [rdi], -1 with CF", B64, {0x83, 0x1F, 0xFF}, {{RDI, 0x2000}}, CF, {{0x2000, {5, 0, 0, 0}}}, {},
     CF | PF | AF, {{0x2000, {5, 0, 0, 0}}}},
    {"and qword [rdi], rax: clears CF OF AF", B64, {0x48, 0x21, 0x07}, {{RDI, 0x2000}, {RAX, 0x0FF00FF00FF00FF0}}, ALL,
     {{0x2000, {0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF}}}, {}, PF,
     {{0x2000, {0x00, 0x0F, 0x00, 0x0F, 0x00, 0x0F, 0x00, 0x0F}}}},
    {"or byte [rdi], 0x0f", B64, {0x80, 0x0F, 0x0F}, {{RDI, 0x2000}}, 0, {{0x2000, {0xF0}}}, {}, SF | PF,
     {{0x2000, {0xFF}}}},
    {"xor [rdi], eax: zero", B64, {0x31, 0x07}, {{RDI, 0x2000}, {RAX, 0x12345678}}, CF | OF,
     {{0x2000, {0x78, 0x56, 0x34, 0x12}}}, {}, ZF | PF, {{0x2000, {0, 0, 0, 0}}}},
    {"cmp dword [rdi], 5: no write", B64, {0x83, 0x3F, 0x05}, {{RDI, 0x2000}}, 0, {{0x2000, {3, 0, 0, 0}}}, {},
     CF | SF | AF, {{0x2000, {3, 0, 0, 0}}}},
    {"test byte [rdi], 0x80", B64, {0xF6, 0x07, 0x80}, {{RDI, 0x2000}}, ALL, {{0x2000, {0x81}}}, {}, SF, {}},
    {"test qword [rdi], rax: zero", B64, {0x48, 0x85, 0x07}, {{RDI, 0x2000}, {RAX, 0x0F}}, 0, {{0x2000, {0xF0}}}, {},
     ZF | PF, {}},
    {"add eax, [rdi]: overflow, zero-extends", B64, {0x03, 0x07}, {{RDI, 0x2000}, {RAX, 0xFFFFFFFF00000001}}, 0,
     {{0x2000, {0xFF, 0xFF, 0xFF, 0x7F}}}, {{RAX, 0x80000000}}, OF | SF | AF | PF, {}},
    {"sub r10b, [rdi]", B64, {0x44, 0x2A, 0x17}, {{RDI, 0x2000}, {R10, 0xAAAAAAAAAAAAAA10}}, 0, {{0x2000, {1}}},
     {{R10, 0xAAAAAAAAAAAAAA0F}}, AF | PF, {}},
    // ---- INC DEC NEG NOT -----------------------------------------------------------------
    {"inc dword [rdi]: CF kept", B64, {0xFF, 0x07}, {{RDI, 0x2000}}, CF, {{0x2000, {0xFF, 0xFF, 0xFF, 0xFF}}}, {},
     CF | ZF | PF | AF, {{0x2000, {0, 0, 0, 0}}}},
    {"dec byte [rdi]: overflow", B64, {0xFE, 0x0F}, {{RDI, 0x2000}}, 0, {{0x2000, {0x80}}}, {}, OF | AF,
     {{0x2000, {0x7F}}}},
    {"neg qword [rdi]", B64, {0x48, 0xF7, 0x1F}, {{RDI, 0x2000}}, 0, {{0x2000, {1, 0, 0, 0, 0, 0, 0, 0}}}, {},
     CF | SF | PF | AF, {{0x2000, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}}},
    {"neg of zero: CF=0", B64, {0x48, 0xF7, 0x1F}, {{RDI, 0x2000}}, CF, {{0x2000, {0, 0, 0, 0, 0, 0, 0, 0}}}, {},
     ZF | PF, {}},
    {"not word [rdi]: flags untouched", B64, {0x66, 0xF7, 0x17}, {{RDI, 0x2000}}, ALL, {{0x2000, {0xFF, 0x00}}}, {},
     ALL, {{0x2000, {0x00, 0xFF}}}},
    {"lock add [rdi], eax", B64, {0xF0, 0x01, 0x07}, {{RDI, 0x2000}, {RAX, 2}}, 0, {{0x2000, {1, 0, 0, 0}}}, {}, PF,
     {{0x2000, {3, 0, 0, 0}}}},
    {"lock inc qword [rdi]", B64, {0xF0, 0x48, 0xFF, 0x07}, {{RDI, 0x2000}}, 0,
     {{0x2000, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}}}, {}, OF | SF | AF | PF,
     {{0x2000, {0, 0, 0, 0, 0, 0, 0, 0x80}}}},
    // ---- BT BTS BTR BTC -------------------------------------------------------------------
    {"bt [rdi], eax: offset 35 → [rdi+4] bit 3", B64, {0x0F, 0xA3, 0x07}, {{RDI, 0x2000}, {RAX, 35}}, ALL & ~CF,
     {{0x2004, {0x08}}}, {}, ALL, {}},
    {"bt [rdi], eax: offset -1 → [rdi-4] bit 31", B64, {0x0F, 0xA3, 0x07}, {{RDI, 0x2000}, {RAX, 0xFFFFFFFF}}, 0,
     {{0x1FFC, {0, 0, 0, 0x80}}}, {}, CF, {}},
    {"bts qword [rdi], rax: offset 69", B64, {0x48, 0x0F, 0xAB, 0x07}, {{RDI, 0x2000}, {RAX, 69}}, CF,
     {{0x2008, {0}}}, {}, 0, {{0x2008, {0x20}}}},
    {"btr word [rdi], ax: offset -1 → [rdi-2] bit 15", B64, {0x66, 0x0F, 0xB3, 0x07},
     {{RDI, 0x2000}, {RAX, 0x123456789ABCFFFF}}, 0, {{0x1FFE, {0xFF, 0xFF}}}, {}, CF, {{0x1FFE, {0xFF, 0x7F}}}},
    {"btc dword [rdi], 33: immediate modulo 32", B64, {0x0F, 0xBA, 0x3F, 0x21}, {{RDI, 0x2000}}, 0,
     {{0x2000, {0, 0, 0, 0, 0xEE}}}, {}, 0, {{0x2000, {2, 0, 0, 0, 0xEE}}}},
    {"bt qword [rdi], 63", B64, {0x48, 0x0F, 0xBA, 0x27, 0x3F}, {{RDI, 0x2000}}, 0,
     {{0x2000, {0, 0, 0, 0, 0, 0, 0, 0x80}}}, {}, CF, {}},
    // ---- SETcc CMOVcc ----------------------------------------------------------------------
    {"sete [rdi], ZF=1", B64, {0x0F, 0x94, 0x07}, {{RDI, 0x2000}}, ZF, {{0x2000, {0xAA}}}, {}, ZF, {{0x2000, {1}}}},
    {"sete [rdi], ZF=0", B64, {0x0F, 0x94, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {0xAA}}}, {}, 0, {{0x2000, {0}}}},
    {"setl [rdi], SF!=OF", B64, {0x0F, 0x9C, 0x07}, {{RDI, 0x2000}}, SF, {}, {}, SF, {{0x2000, {1}}}},
    {"cmovne eax, [rdi], false: upper half cleared", B64, {0x0F, 0x45, 0x07}, {{RDI, 0x2000}, {RAX, 0xFFFFFFFF12345678}},
     ZF, {}, {{RAX, 0x12345678}}, ZF, {}},
    {"cmovne eax, [rdi], true", B64, {0x0F, 0x45, 0x07}, {{RDI, 0x2000}}, 0, {{0x2000, {0xBE, 0xBA, 0xFE, 0xCA}}},
     {{RAX, 0xCAFEBABE}}, 0, {}},
    {"cmove rax, [rdi], false", B64, {0x48, 0x0F, 0x44, 0x07}, {{RDI, 0x2000}}, 0, {}, {}, 0, {}},
    {"cmovl cx, [rdi], true", B64, {0x66, 0x0F, 0x4C, 0x0F}, {{RDI, 0x2000}, {RCX, 0x1111111111111111}}, OF,
     {{0x2000, {0x34, 0x12}}}, {{RCX, 0x1111111111111234}}, OF, {}},
    // ---- STOS MOVS -------------------------------------------------------------------------
    {"rep stosb", B64, {0xF3, 0xAA}, {{RCX, 5}, {RDI, 0x2000}, {RAX, 0xAB}}, 0, {{0x2000, {0, 0, 0, 0, 0, 0}}},
     {{RCX, 0}, {RDI, 0x2005}}, 0, {{0x2000, {0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0}}}},
    {"rep stosq, DF=1", B64, {0xF3, 0x48, 0xAB}, {{RCX, 2}, {RDI, 0x2008}, {RAX, 0x1122334455667788}}, DF, {},
     {{RCX, 0}, {RDI, 0x1FF8}}, DF,
     {{0x2000, {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}}}},
    {"stosd without REP: RCX untouched", B64, {0xAB}, {{RDI, 0x2000}, {RAX, 0xDDCCBBAA}}, 0, {}, {{RDI, 0x2004}}, 0,
     {{0x2000, {0xAA, 0xBB, 0xCC, 0xDD}}}},
    {"rep stosb with RCX=0: nothing", B64, {0xF3, 0xAA}, {{RCX, 0}, {RDI, 0x2000}}, 0, {{0x2000, {0x11}}}, {}, 0,
     {{0x2000, {0x11}}}},
    {"repne stosb acts as rep", B64, {0xF2, 0xAA}, {{RCX, 2}, {RDI, 0x2000}, {RAX, 0x5}}, 0, {}, {{RCX, 0}, {RDI, 0x2002}},
     0, {{0x2000, {5, 5}}}},
    {"rep movsb", B64, {0xF3, 0xA4}, {{RCX, 3}, {RSI, 0x3000}, {RDI, 0x2000}}, 0, {{0x3000, {1, 2, 3, 4}}},
     {{RCX, 0}, {RSI, 0x3003}, {RDI, 0x2003}}, 0, {{0x2000, {1, 2, 3, 0}}}},
    {"movsq", B64, {0x48, 0xA5}, {{RSI, 0x3000}, {RDI, 0x2000}}, 0, {{0x3000, {1, 2, 3, 4, 5, 6, 7, 8}}},
     {{RSI, 0x3008}, {RDI, 0x2008}}, 0, {{0x2000, {1, 2, 3, 4, 5, 6, 7, 8}}}},
    {"rep movsw, DF=1", B64, {0xF3, 0x66, 0xA5}, {{RCX, 2}, {RSI, 0x3002}, {RDI, 0x2002}}, DF,
     {{0x3000, {1, 2, 3, 4}}}, {{RCX, 0}, {RSI, 0x2FFE}, {RDI, 0x1FFE}}, DF, {{0x2000, {1, 2, 3, 4}}}},
    {"movsb with fs: source override", B64, {0x64, 0xA4}, {{RSI, 0x1000}, {RDI, 0x2000}}, 0, {{0x3000, {0x77}}},
     {{RSI, 0x1001}, {RDI, 0x2001}}, 0, {{0x2000, {0x77}}}, 0, 0, 0, 0x2000},
    {"67 rep stosb: ECX/EDI, upper halves cleared", B64, {0x67, 0xF3, 0xAA},
     {{RCX, 0xFFFFFFFF00000002}, {RDI, 0xFFFFFFFF00002000}, {RAX, 9}}, 0, {}, {{RCX, 0}, {RDI, 0x2002}}, 0,
     {{0x2000, {9, 9}}}},
    // ---- REX2 (APX): 5-bit register numbers ------------------------------------------------
    {"REX2 mov [r16], r17d", B64, {0xD5, 0x50, 0x89, 0x08}, {{R16, 0x2000}, {R17, 0xFFFFFFFFA1B2C3D4}}, 0, {}, {}, 0,
     {{0x2000, {0xD4, 0xC3, 0xB2, 0xA1}}}},
    {"REX2 mov r20, [r31+8*r18+0x10]", B64, {0xD5, 0x79, 0x8B, 0x64, 0xD7, 0x10}, {{R31, 0x2000}, {R18, 2}}, 0,
     {{0x2020, {1, 2, 3, 4, 5, 6, 7, 8}}}, {{R20, 0x0807060504030201}}, 0, {}},
    {"REX2 mov [r16], r23b", B64, {0xD5, 0x50, 0x88, 0x38}, {{R16, 0x2000}, {R23, 0x1234}}, 0, {}, {}, 0,
     {{0x2000, {0x34}}}},
    {"REX2 byte register 4 is SPL", B64, {0xD5, 0x00, 0x88, 0x27}, {{RDI, 0x2000}, {RSP, 0x12345678}}, 0, {}, {}, 0,
     {{0x2000, {0x78}}}},
    {"REX2 movzx r16d, byte [rdi]", B64, {0xD5, 0xC0, 0xB6, 0x07}, {{RDI, 0x2000}, {R16, ~0ull}}, 0, {{0x2000, {0xF0}}},
     {{R16, 0xF0}}, 0, {}},
    {"REX2 movsxd r25, [r26]", B64, {0xD5, 0x5D, 0x63, 0x0A}, {{R26, 0x2000}}, 0, {{0x2000, {0, 0, 0, 0xF0}}},
     {{R25, 0xFFFFFFFFF0000000}}, 0, {}},
    {"REX2 add [r16], r17", B64, {0xD5, 0x58, 0x01, 0x08}, {{R16, 0x2000}, {R17, 1}}, 0,
     {{0x2000, {0xFF, 0, 0, 0, 0, 0, 0, 0}}}, {}, AF | PF, {{0x2000, {0, 1, 0, 0, 0, 0, 0, 0}}}},
    {"REX2 add dword [r28+4], 0x1000", B64, {0xD5, 0x11, 0x81, 0x44, 0x24, 0x04, 0x00, 0x10, 0x00, 0x00},
     {{R28, 0x2000}}, 0, {{0x2004, {1, 0, 0, 0}}}, {}, 0, {{0x2004, {1, 0x10, 0, 0}}}},
    {"REX2 sub r19, [rdi]", B64, {0xD5, 0x48, 0x2B, 0x1F}, {{RDI, 0x2000}, {R19, 10}}, 0,
     {{0x2000, {10, 0, 0, 0, 0, 0, 0, 0}}}, {{R19, 0}}, ZF | PF, {}},
    {"REX2 xchg [r21], r22", B64, {0xD5, 0x58, 0x87, 0x75, 0x00}, {{R21, 0x2000}, {R22, 0x1111}}, 0,
     {{0x2000, {0x22, 0x22, 0, 0, 0, 0, 0, 0}}}, {{R22, 0x2222}}, 0, {{0x2000, {0x11, 0x11, 0, 0, 0, 0, 0, 0}}}},
    {"REX2 inc dword [r30]", B64, {0xD5, 0x11, 0xFF, 0x06}, {{R30, 0x2000}}, 0, {{0x2000, {0x0F, 0, 0, 0}}}, {}, AF,
     {{0x2000, {0x10, 0, 0, 0}}}},
    {"REX2 neg byte [r24]", B64, {0xD5, 0x11, 0xF6, 0x18}, {{R24, 0x2000}}, 0, {{0x2000, {0x80}}}, {}, CF | OF | SF,
     {{0x2000, {0x80}}}},
    {"REX2 bts [r16], r17 (offset 70)", B64, {0xD5, 0xD8, 0xAB, 0x08}, {{R16, 0x2000}, {R17, 70}}, 0,
     {{0x2008, {0x40}}}, {}, CF, {{0x2008, {0x40}}}},
    {"REX2 btr dword [r18], 7", B64, {0xD5, 0x90, 0xBA, 0x32, 0x07}, {{R18, 0x2000}}, 0, {{0x2000, {0xFF}}}, {}, CF,
     {{0x2000, {0x7F}}}},
    {"REX2 sete [r16]", B64, {0xD5, 0x90, 0x94, 0x00}, {{R16, 0x2000}}, ZF, {}, {}, ZF, {{0x2000, {1}}}},
    {"REX2 sete r16b", B64, {0xD5, 0x90, 0x94, 0xC0}, {{R16, 0xFFFF}}, ZF, {}, {{R16, 0xFF01}}, ZF, {}},
    {"REX2 cmovne r17, [r18]", B64, {0xD5, 0xD8, 0x45, 0x0A}, {{R18, 0x2000}}, 0, {{0x2000, {1, 2, 3, 4, 5, 6, 7, 8}}},
     {{R17, 0x0807060504030201}}, 0, {}},
    {"REX2 test word [r29], r20w", B64, {0x66, 0xD5, 0x51, 0x85, 0x65, 0x00}, {{R29, 0x2000}, {R20, 0x8000}}, 0,
     {{0x2000, {0, 0x80}}}, {}, SF | PF, {}},
    {"REX2 lock add [r16], r17d", B64, {0xF0, 0xD5, 0x50, 0x01, 0x08}, {{R16, 0x2000}, {R17, 5}}, 0,
     {{0x2000, {5, 0, 0, 0}}}, {}, PF, {{0x2000, {10, 0, 0, 0}}}},
    {"REX2 cmp byte [rsp+r16], 3", B64, {0xD5, 0x20, 0x80, 0x3C, 0x04, 0x03}, {{RSP, 0x2000}, {R16, 0x10}}, 0,
     {{0x2010, {3}}}, {}, ZF | PF, {}},
    // ---- 32-bit mode -----------------------------------------------------------------------
    {"32: mov [eax], ecx with DS base", B32, {0x89, 0x08}, {{RAX, 0x2000}, {RCX, 0x11223344}}, 0, {}, {}, 0,
     {{0x12000, {0x44, 0x33, 0x22, 0x11}}}, 0x10000},
    {"32: mov ecx, [ebx+4*esi+0x10]", B32, {0x8B, 0x4C, 0xB3, 0x10}, {{RBX, 0x2000}, {RSI, 1}}, 0,
     {{0x2014, {1, 2, 3, 4}}}, {{RCX, 0x04030201}}, 0, {}},
    {"32: mov eax, [moffs32]", B32, {0xA1, 0x00, 0x20, 0x00, 0x00}, {}, 0, {{0x2000, {1, 2, 3, 4}}},
     {{RAX, 0x04030201}}, 0, {}},
    {"32: mov [moffs32], eax", B32, {0xA3, 0x00, 0x20, 0x00, 0x00}, {{RAX, 0xAABBCCDD}}, 0, {}, {}, 0,
     {{0x2000, {0xDD, 0xCC, 0xBB, 0xAA}}}},
    {"32: [ebp+8] uses SS", B32, {0x8B, 0x45, 0x08}, {{RBP, 0x1000}}, 0, {{0x21008, {9, 0, 0, 0}}}, {{RAX, 9}}, 0, {},
     0, 0, 0x20000},
    {"32: es: override", B32, {0x26, 0x8B, 0x03}, {{RBX, 0x100}}, 0, {{0x3100, {7, 0, 0, 0}}}, {{RAX, 7}}, 0, {}, 0,
     0x3000},
    {"32: inc eax (40)", B32, {0x40}, {{RAX, 0x7FFFFFFF}}, CF, {}, {{RAX, 0x80000000}}, CF | OF | SF | AF | PF, {}},
    {"32: dec ecx (49)", B32, {0x49}, {{RCX, 1}}, 0, {}, {{RCX, 0}}, ZF | PF, {}},
    {"32: inc dword [eax]", B32, {0xFF, 0x00}, {{RAX, 0x2000}}, 0, {{0x2000, {1, 0, 0, 0}}}, {}, 0,
     {{0x2000, {2, 0, 0, 0}}}},
    {"32: rep stosd uses the ES base", B32, {0xF3, 0xAB}, {{RCX, 2}, {RDI, 0x100}, {RAX, 0x01020304}}, 0, {},
     {{RCX, 0}, {RDI, 0x108}}, 0, {{0x1100, {4, 3, 2, 1, 4, 3, 2, 1}}}, 0, 0x1000},
    {"32: rep movsb between segments", B32, {0xF3, 0xA4}, {{RCX, 2}, {RSI, 0x10}, {RDI, 0x20}}, 0,
     {{0x5010, {0xA, 0xB}}}, {{RCX, 0}, {RSI, 0x12}, {RDI, 0x22}}, 0, {{0x6020, {0xA, 0xB}}}, 0x5000, 0x6000},
    {"32: movzx eax, word [eax]", B32, {0x0F, 0xB7, 0x00}, {{RAX, 0x2000}}, 0, {{0x2000, {0xFF, 0xFF}}},
     {{RAX, 0xFFFF}}, 0, {}},
    {"32: mov ax, [bx+si] (67 66)", B32, {0x67, 0x66, 0x8B, 0x00}, {{RBX, 0x10000}, {RSI, 0x0010}}, 0,
     {{0x0010, {0x34, 0x12}}}, {{RAX, (pattern(0) & ~0xFFFFull) | 0x1234}}, 0, {}},
    // ---- 16-bit mode -----------------------------------------------------------------------
    {"16: mov [bx+si], ax", B16, {0x89, 0x00}, {{RBX, 0x1000}, {RSI, 0x0234}, {RAX, 0xBEEF}}, 0, {}, {}, 0,
     {{0x11234, {0xEF, 0xBE}}}, 0x10000},
    {"16: mov ax, [bp+di+2] uses SS", B16, {0x8B, 0x43, 0x02}, {{RBP, 0x100}, {RDI, 0x10}}, 0,
     {{0x20112, {0x34, 0x12}}}, {{RAX, (pattern(0) & ~0xFFFFull) | 0x1234}}, 0, {}, 0x10000, 0, 0x20000},
    {"16: [bx+0xfffe] wraps at 64 KiB", B16, {0x8B, 0x87, 0xFE, 0xFF}, {{RBX, 4}}, 0, {{0x0002, {0x78, 0x56}}},
     {{RAX, (pattern(0) & ~0xFFFFull) | 0x5678}}, 0, {}},
    {"16: mov eax, [bx] (66)", B16, {0x66, 0x8B, 0x07}, {{RBX, 0x2000}}, 0, {{0x2000, {1, 2, 3, 4}}},
     {{RAX, 0x04030201}}, 0, {}},
    {"16: mov [moffs16], al", B16, {0xA2, 0x34, 0x12}, {{RAX, 0x77}}, 0, {}, {}, 0, {{0x11234, {0x77}}}, 0x10000},
    {"16: add word [di], 5", B16, {0x83, 0x05, 0x05}, {{RDI, 0x2000}}, 0, {{0x2000, {0xFB, 0xFF}}}, {},
     CF | ZF | PF | AF, {{0x2000, {0, 0}}}},
    {"16: rep stosw uses CX and DI only", B16, {0xF3, 0xAB}, {{RCX, 0xFFFF0002}, {RDI, 0xAAAA0100}, {RAX, 0x4142}}, 0,
     {}, {{RCX, 0xFFFF0000}, {RDI, 0xAAAA0104}}, 0, {{0x1100, {0x42, 0x41, 0x42, 0x41}}}, 0, 0x1000},
    {"16: bt [bx], ax with AX=-1 → [bx-2] bit 15", B16, {0x0F, 0xA3, 0x07}, {{RBX, 0x2000}, {RAX, 0xFFFF}}, 0,
     {{0x1FFE, {0, 0x80}}}, {}, CF, {}},
    {"16: mov [eax], ecx (67 66)", B16, {0x67, 0x66, 0x89, 0x08}, {{RAX, 0x2000}, {RCX, 0xCAFEF00D}}, 0, {}, {}, 0,
     {{0x2000, {0x0D, 0xF0, 0xFE, 0xCA}}}},
    {"16: inc word [si]", B16, {0xFF, 0x04}, {{RSI, 0x2000}}, 0, {{0x2000, {0xFF, 0x7F}}}, {}, OF | SF | AF | PF,
     {{0x2000, {0x00, 0x80}}}},
};

void apply_segments(emu::EmuContext& ctx, const Row& row) {
  ctx.seg[3].base = row.ds_base;
  ctx.seg[0].base = row.es_base;
  ctx.seg[2].base = row.ss_base;
  ctx.seg[4].base = row.fs_base;
  ctx.seg[5].base = row.gs_base;
}

}  // namespace

TEST_CASE("emulate: every form in every mode (registers, memory, RFLAGS)", "[emulate]") {
  for (const Row& row : kRows) {
    INFO(row.name);
    Machine m(row.mode);
    apply_segments(m.ctx, row);
    for (const R& r : row.regs) m.gpr[r.n] = r.v;
    m.ctx.rflags = 0x2 | row.flags;
    for (const M& x : row.mem) m.phys.poke(x.a, x.b.data(), x.b.size());
    uint64_t expect[32];
    for (unsigned i = 0; i < 32; ++i) expect[i] = m.gpr[i];
    for (const R& r : row.regs_out) expect[r.n] = r.v;

    decode::Instruction insn;
    const emu::Result res = run(row.code, m.ctx, true, &insn);
    INFO("outcome " << emu::outcome_name(res.outcome) << " (" << emu::unsupported_text(res.why) << ") vector "
                    << int(res.exception.vector));
    REQUIRE(res.outcome == Outcome::ok);
    CHECK(res.completed);
    CHECK(m.ctx.rip == 0x1000ull + insn.length);
    CHECK(m.ctx.rflags == (0x2 | row.flags_out));
    for (unsigned i = 0; i < 32; ++i) {
      INFO("gpr[" << i << "]");
      CHECK(m.gpr[i] == expect[i]);
    }
    for (const M& x : row.mem_out)
      for (size_t i = 0; i < x.b.size(); ++i) {
        INFO("memory at 0x" << std::hex << x.a + i);
        CHECK(m.phys.peek(x.a + i, 1) == x.b[i]);
      }
  }
}

// ---- faults ------------------------------------------------------------------------------

namespace {

struct FaultRow {
  const char* name;
  CpuMode mode;
  Bytes code;
  std::vector<R> regs;
  uint8_t vector;
  uint32_t error_code;
  void (*setup)(emu::EmuContext&) = nullptr;
};

const FaultRow kFaults[] = {
    {"64: non-canonical address → #GP(0)", B64, {0x89, 0x07}, {{RDI, 0x0000800000000000}}, emu::vector::GP, 0},
    {"64: last byte non-canonical → #GP(0)", B64, {0x89, 0x07}, {{RDI, 0x00007FFFFFFFFFFE}}, emu::vector::GP, 0},
    {"64: non-canonical through RBP (SS) → #SS(0)", B64, {0x8B, 0x45, 0x00}, {{RBP, 0x8000000000000000}},
     emu::vector::SS, 0},
    {"64: non-canonical RSP-based → #SS(0)", B64, {0x89, 0x04, 0x24}, {{RSP, 0x0001000000000000}}, emu::vector::SS, 0},
    {"64: FS base makes it non-canonical → #GP(0)", B64, {0x64, 0x89, 0x07}, {{RDI, 0x10}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[4].base = 0x00007FFFFFFFFFF0; }},
    {"lock mov → #UD", B64, {0xF0, 0x89, 0x07}, {{RDI, 0x2000}}, emu::vector::UD, 0},
    {"lock cmp → #UD", B64, {0xF0, 0x39, 0x07}, {{RDI, 0x2000}}, emu::vector::UD, 0},
    {"lock add to a register → #UD", B64, {0xF0, 0x01, 0xD8}, {}, emu::vector::UD, 0},
    {"#AC: CPL 3, CR0.AM, RFLAGS.AC, misaligned", B64, {0x89, 0x47, 0x01}, {{RDI, 0x2000}}, emu::vector::AC, 0,
     [](emu::EmuContext& c) {
       c.cpl = 3;
       c.cr0_am = true;
       c.rflags |= arch::rflags::AC;
     }},
    {"32: beyond the DS limit → #GP(0)", B32, {0x89, 0x08}, {{RAX, 0xFFE}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[3].limit = 0xFFF; }},
    {"32: beyond the SS limit → #SS(0)", B32, {0x8B, 0x45, 0x08}, {{RBP, 0xFF8}}, emu::vector::SS, 0,
     [](emu::EmuContext& c) { c.seg[2].limit = 0xFFF; }},
    {"32: write to a read-only data segment → #GP(0)", B32, {0x89, 0x08}, {{RAX, 0x2000}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[3].access_rights = 0xC091; }},
    {"32: read of an execute-only code segment → #GP(0)", B32, {0x2E, 0x8B, 0x00}, {{RAX, 0x2000}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[1].access_rights = 0xC099; }},
    {"32: unusable (null) DS → #GP(0)", B32, {0x8B, 0x00}, {{RAX, 0x2000}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[3].access_rights = emu::Segment::kUnusable; }},
    {"32: expand-down segment, offset at or below the limit → #GP(0)", B32, {0x8B, 0x00}, {{RAX, 0x800}},
     emu::vector::GP, 0, [](emu::EmuContext& c) {
       c.seg[3].access_rights = 0xC097;
       c.seg[3].limit = 0xFFF;
     }},
    {"32: rep stosd beyond the ES limit → #GP(0)", B32, {0xF3, 0xAB}, {{RCX, 1}, {RDI, 0xFFFE}}, emu::vector::GP, 0,
     [](emu::EmuContext& c) { c.seg[0].limit = 0xFFFF; }},
    {"16: word at offset 0xFFFF → #GP(0)", B16, {0x8B, 0x07}, {{RBX, 0xFFFF}}, emu::vector::GP, 0},
    {"16: [bp] at offset 0xFFFF → #SS(0)", B16, {0x8B, 0x46, 0x00}, {{RBP, 0xFFFF}}, emu::vector::SS, 0},
};

}  // namespace

TEST_CASE("emulate: #GP, #SS, #UD, #AC leave registers, flags and memory unchanged", "[emulate][faults]") {
  for (const FaultRow& row : kFaults) {
    INFO(row.name);
    Machine m(row.mode);
    for (const R& r : row.regs) m.gpr[r.n] = r.v;
    if (row.setup) row.setup(m.ctx);
    m.ctx.rflags |= ALL;
    const uint64_t flags = m.ctx.rflags;
    uint64_t before[32];
    for (unsigned i = 0; i < 32; ++i) before[i] = m.gpr[i];
    const auto snap = m.phys.snapshot();
    const emu::Result res = run(row.code, m.ctx);
    REQUIRE(res.outcome == Outcome::fault);
    CHECK(res.exception.vector == row.vector);
    CHECK(res.exception.error_code == row.error_code);
    CHECK(res.exception.has_error_code == (row.vector != emu::vector::UD));
    CHECK(m.ctx.rip == 0x1000);
    CHECK(m.ctx.rflags == flags);
    for (unsigned i = 0; i < 32; ++i) CHECK(m.gpr[i] == before[i]);
    CHECK(m.phys.snapshot() == snap);
  }
}

TEST_CASE("emulate: #PF through guest paging, no partial writes", "[emulate][faults][paging]") {
  constexpr uint64_t LIN = 0x00007F0000001000ull;
  Machine m(B64);
  FakePhys& phys = m.phys;
  PageTables pt(phys, PageTables::Mode::level4);
  pt.map(LIN, 0x20000, pte::P | pte::RW | pte::US);
  pt.map(LIN + 0x1000, 0x21000, pte::P | pte::US);  // read-only
  m.mem.paging() = pt.state(3);

  struct Case {
    const char* name;
    Bytes code;
    std::vector<R> regs;
    uint64_t cr2;
    uint32_t error;
    std::vector<R> regs_after;  // REP progress
  };
  const Case cases[] = {
      {"mov straddling into a read-only page", {0x48, 0x89, 0x07}, {{RDI, LIN + 0xFFC}}, LIN + 0x1000,
       pf_error::P | pf_error::W | pf_error::U, {}},
      {"add (read-modify-write) to a read-only page: W=1", {0x01, 0x07}, {{RDI, LIN + 0x1100}}, LIN + 0x1100,
       pf_error::P | pf_error::W | pf_error::U, {}},
      {"read of an unmapped page", {0x8B, 0x07}, {{RDI, LIN + 0x2000}}, LIN + 0x2000, pf_error::U, {}},
      {"xchg with a read-only page", {0x87, 0x07}, {{RDI, LIN + 0x1000}}, LIN + 0x1000,
       pf_error::P | pf_error::W | pf_error::U, {}},
      {"rep stosb runs into the read-only page: progress kept", {0xF3, 0xAA}, {{RDI, LIN + 0xFFE}, {RCX, 5}, {RAX, 0x77}},
       LIN + 0x1000, pf_error::P | pf_error::W | pf_error::U, {{RDI, LIN + 0x1000}, {RCX, 3}}},
      {"movsq with an unmapped source", {0x48, 0xA5}, {{RSI, LIN + 0x3000}, {RDI, LIN}}, LIN + 0x3000, pf_error::U,
       {}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    m.ctx.rip = 0x1000;
    m.ctx.rflags = 0x2;
    for (unsigned i = 0; i < 32; ++i) m.gpr[i] = pattern(i);
    for (const R& r : c.regs) m.gpr[r.n] = r.v;
    uint64_t expect[32];
    for (unsigned i = 0; i < 32; ++i) expect[i] = m.gpr[i];
    for (const R& r : c.regs_after) expect[r.n] = r.v;
    const auto before = phys.snapshot();
    const emu::Result res = run(c.code, m.ctx);
    REQUIRE(res.outcome == Outcome::fault);
    CHECK(res.exception.vector == emu::vector::PF);
    CHECK(res.exception.cr2 == c.cr2);
    CHECK(res.exception.error_code == c.error);
    CHECK(m.ctx.rip == 0x1000);
    for (unsigned i = 0; i < 32; ++i) CHECK(m.gpr[i] == expect[i]);
    if (c.regs_after.empty()) {
      // Nothing written: only A bits of the entries walked may have changed; data pages equal.
      const auto after = phys.snapshot();
      CHECK(after.at(0x20000) == before.at(0x20000));
      CHECK(after.at(0x21000) == before.at(0x21000));
    }
  }
  // The rep stosb case wrote its first two bytes (the iterations before the fault).
  CHECK(phys.peek(0x20FFE, 2) == 0x7777);
}

TEST_CASE("emulate: outcomes other than ok and fault", "[emulate]") {
  Machine m(B64);
  m.gpr[RDI] = 0x2000;
  // Not emulated: each with its reason; nothing changes.
  struct U {
    Bytes code;
    emu::Unsupported why;
  };
  const U unsupported[] = {
      {{0x0F, 0xA2}, emu::Unsupported::mnemonic},                     // cpuid
      {{0x8D, 0x07}, emu::Unsupported::mnemonic},                     // lea (no memory access)
      {{0x8E, 0xD8}, emu::Unsupported::operand_form},                 // mov ds, ax
      {{0x0F, 0x22, 0xD8}, emu::Unsupported::operand_form},           // mov cr3, rax
      {{0xC5, 0xF8, 0x77}, emu::Unsupported::encoding},               // vzeroupper
      {{0x62, 0xF4, 0x7C, 0x18, 0x01, 0x0F}, emu::Unsupported::not_decoded},  // EVEX map 4: add eax, [rdi], ecx
      {{0x89}, emu::Unsupported::not_decoded},                        // truncated
  };
  for (const U& u : unsupported) {
    m.ctx.rip = 0x1000;
    const emu::Result r = run(u.code, m.ctx);
    INFO(emu::unsupported_text(r.why));
    CHECK(r.outcome == Outcome::unsupported);
    CHECK(r.why == u.why);
    CHECK(m.ctx.rip == 0x1000);
  }
  // Decoded for another mode.
  decode::Instruction insn = decode::decode(std::vector<uint8_t>{0x89, 0x07}.data(), 2, CpuMode::bits32, true);
  CHECK(emu::emulate(insn, m.ctx).why == emu::Unsupported::mode_mismatch);
  // No context.
  emu::EmuContext empty;
  insn = decode::decode(std::vector<uint8_t>{0x89, 0x07}.data(), 2, CpuMode::bits64, true);
  CHECK(emu::emulate(insn, empty).why == emu::Unsupported::no_context);

  // A GPA that is not RAM: bad_gpa with the address.
  m.gpr[RDI] = 0xFEE00030;
  emu::Result r = run({0x89, 0x07}, m.ctx);
  CHECK(r.outcome == Outcome::bad_gpa);
  CHECK(r.gpa == 0xFEE00030);

  // With LA57 the same high address is canonical (and here not RAM).
  m.gpr[RDI] = 0x0080000000000000ull;
  m.ctx.la57 = true;
  CHECK(run({0x89, 0x07}, m.ctx).outcome == Outcome::bad_gpa);
  m.ctx.la57 = false;
  CHECK(run({0x89, 0x07}, m.ctx).outcome == Outcome::fault);
  // A 57-bit kernel address (a 5-level Linux's GS base, issue P13): canonical with LA57 only.
  m.gpr[RDI] = 0xff32fc1d4d800000ull;
  m.ctx.la57 = true;
  CHECK(run({0x89, 0x07}, m.ctx).outcome == Outcome::bad_gpa);
  m.ctx.la57 = false;
  CHECK(run({0x89, 0x07}, m.ctx).outcome == Outcome::fault);
}

TEST_CASE("emulate: canonical() at 48 and 57 bits (SDM Vol 1 3.3.7.1)", "[emulate]") {
  struct Row {
    uint64_t linear;
    bool c48, c57;
  };
  const Row rows[] = {
      {0x00007fffffffffffull, true, true},   {0xffff800000000000ull, true, true},
      {0x0000800000000000ull, false, true},  {0xff32fc1d4d800000ull, false, true},
      {0x00ffffffffffffffull, false, true},  {0xff00000000000000ull, false, true},
      {0x0100000000000000ull, false, false}, {0xfeffffffffffffffull, false, false},
      {0x8000000000000000ull, false, false}, {0, true, true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.linear);
    CHECK(decode::emulate::canonical(r.linear, false) == r.c48);
    CHECK(decode::emulate::canonical(r.linear, true) == r.c57);
  }
}

TEST_CASE("emulate: REP budget, RF and TF", "[emulate][string]") {
  Machine m(B64);
  m.gpr[RCX] = 10;
  m.gpr[RDI] = 0x2000;
  m.ctx.rep_budget = 4;
  const Bytes code = {0xF3, 0xAA};
  emu::Result r = run(code, m.ctx);
  REQUIRE(r.outcome == Outcome::ok);
  CHECK_FALSE(r.completed);
  CHECK(m.ctx.rip == 0x1000);
  CHECK(m.gpr[RCX] == 6);
  CHECK(m.gpr[RDI] == 0x2004);
  r = run(code, m.ctx);
  CHECK_FALSE(r.completed);
  CHECK(m.gpr[RCX] == 2);
  r = run(code, m.ctx);
  CHECK(r.completed);
  CHECK(m.gpr[RCX] == 0);
  CHECK(m.ctx.rip == 0x1002);

  // RF is cleared by a completed instruction; TF set before it asks for the single-step trap.
  m.ctx.rip = 0x1000;
  m.ctx.rflags = 0x2 | arch::rflags::RF | arch::rflags::TF;
  r = run({0x89, 0x07}, m.ctx);
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.single_step);
  CHECK((m.ctx.rflags & arch::rflags::RF) == 0);
  CHECK((m.ctx.rflags & arch::rflags::TF) != 0);
}

TEST_CASE("emulate: LOCK is a compare-exchange; another CPU that keeps writing makes it retry", "[emulate]") {
  Machine m(B64);
  m.gpr[RDI] = 0x2000;
  m.gpr[RAX] = 1;
  m.phys.poke32(0x2000, 41);
  // One interfering write: the loop re-reads and adds to the new value.
  static int n;
  n = 0;
  m.phys.interfere = [](FakePhys& p, uint64_t gpa) {
    if (n++ == 0) p.poke32(gpa, 100);
  };
  emu::Result r = run({0xF0, 0x01, 0x07}, m.ctx);
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(m.phys.peek(0x2000, 4) == 101);
  // Interference on every attempt: give up without writing anything else.
  m.phys.interfere = [](FakePhys& p, uint64_t gpa) { p.poke32(gpa, static_cast<uint32_t>(p.peek(gpa, 4) + 1)); };
  m.ctx.rip = 0x1000;
  r = run({0xF0, 0x01, 0x07}, m.ctx);
  CHECK(r.outcome == Outcome::retry);
  CHECK(m.ctx.rip == 0x1000);
  m.phys.interfere = nullptr;
  // XCHG with memory is locked without the prefix.
  const unsigned before = m.phys.cmpxchgs;
  m.ctx.rip = 0x1000;
  REQUIRE(run({0x87, 0x07}, m.ctx).outcome == Outcome::ok);
  CHECK(m.phys.cmpxchgs == before + 1);
}

TEST_CASE("fetch_instruction: from CS:RIP through paging, a page at a time", "[emulate][fetch]") {
  constexpr uint64_t LIN = 0x00007F0000001000ull;
  Machine m(B64);
  FakePhys& phys = m.phys;
  PageTables pt(phys, PageTables::Mode::level4);
  pt.map(LIN, 0x20000, pte::P | pte::RW);  // the next page is not mapped
  m.mem.paging() = pt.state(0);
  // A 3-byte instruction ending exactly at the page end: fetched without touching the next page.
  phys.poke(0x20FFD, "\x48\x89\x07", 3);
  m.ctx.rip = LIN + 0xFFD;
  decode::Instruction insn;
  emu::Result r = emu::fetch_instruction(m.ctx, true, insn);
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(insn.ok());
  CHECK(insn.length == 3);
  // Crossing into the unmapped page: #PF for an instruction fetch (I/D with NXE), CR2 = next page.
  phys.poke(0x20FFE, "\x48\x89", 2);
  m.ctx.rip = LIN + 0xFFE;
  r = emu::fetch_instruction(m.ctx, true, insn);
  REQUIRE(r.outcome == Outcome::fault);
  CHECK(r.exception.vector == emu::vector::PF);
  CHECK(r.exception.cr2 == LIN + 0x1000);
  CHECK(r.exception.error_code == pf_error::ID);
  // Non-canonical RIP: #GP(0).
  m.ctx.rip = 0x0000800000000000ull;
  CHECK(emu::fetch_instruction(m.ctx, true, insn).exception.vector == emu::vector::GP);
  // 32-bit mode: past the CS limit is #GP(0).
  Machine m32(B32);
  m32.phys.poke(0x0FFE, "\x89\x07", 2);
  m32.ctx.seg[1].limit = 0xFFE;
  m32.ctx.rip = 0xFFE;
  CHECK(emu::fetch_instruction(m32.ctx, true, insn).exception.vector == emu::vector::GP);
  m32.ctx.seg[1].limit = 0xFFFF;
  REQUIRE(emu::fetch_instruction(m32.ctx, true, insn).outcome == Outcome::ok);
  CHECK(insn.length == 2);
  // CS base applies outside 64-bit mode.
  m32.phys.poke(0x10FFE, "\x90", 1);
  m32.ctx.seg[1].base = 0x10000;
  REQUIRE(emu::fetch_instruction(m32.ctx, true, insn).outcome == Outcome::ok);
  CHECK(insn.length == 1);
}
