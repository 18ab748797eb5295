// apexvisor's instruction model: what decode() produces and what the emulator, the VMX-exit
// handlers and the formatter consume. Plain data, no Zydis types except the mnemonic values
// (decode/mnemonic.hpp), so it compiles freestanding and on the host alike.
//
// Register numbers are architectural: a GPR's `num` (0..31) indexes the vCPU's gpr[32]
// directly (design.md "The vCPU register file"); names come from arch/gpr_table.def.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/mnemonic.hpp"
#include "decode/reason.hpp"

namespace decode {

// Code-segment default size the guest runs with (CS.L/CS.D, or real mode = 16).
enum class CpuMode : uint8_t { bits16 = 16, bits32 = 32, bits64 = 64 };

enum class RegClass : uint8_t {
  none,
  gpr,    // num 0..31; bits 8/16/32/64; see Reg::high8
  seg,    // num 0..5 = ES CS SS DS FS GS (the Sreg encoding)
  cr,     // num = CRn
  dr,     // num = DRn
  x87,    // num = ST(i)
  mmx,    // mm0..7
  xmm,    // xmm0..31
  ymm,
  zmm,
  tmm,    // AMX tiles
  mask,   // k0..7
  bnd,    // MPX bnd0..3
  ip,     // RIP/EIP/IP (RIP-relative memory, implicit operands)
  flags,  // RFLAGS/EFLAGS/FLAGS (implicit operands)
  other,  // everything else Zydis names (XCR0, GDTR, MXCSR, PKRU, SSP, ...): see Reg::zydis
};

struct Reg {
  RegClass cls = RegClass::none;
  uint8_t num = 0;
  uint16_t bits = 0;     // register width in bits
  bool high8 = false;    // 8-bit GPR only: AH/CH/DH/BH = bits 15:8 of gpr[num] (num 0..3).
                         // Byte register numbers 4..7 mean SPL..DIL under REX/REX2 and
                         // AH..BH without (spec §1.5); the decoder has already resolved that.
  uint16_t zydis = 0;    // ZydisRegister for RegClass::other (0 for every other class)

  constexpr bool present() const { return cls != RegClass::none; }
  constexpr bool is_gpr() const { return cls == RegClass::gpr; }
  constexpr bool is_egpr() const { return cls == RegClass::gpr && num >= 16; }
};

enum class MemKind : uint8_t {
  data,  // an access of `Operand::bits` bits
  agen,  // address generation only (LEA): no access
  mib,   // MPX base+index pair (BNDLDX/BNDSTX)
  vsib,  // vector index (gathers/scatters)
};

struct Mem {
  Reg segment;                 // effective segment (the override, else the default DS/SS)
  bool segment_override = false;
  Reg base;                    // none: no base; RegClass::ip: RIP/EIP-relative
  Reg index;                   // none: no index
  uint8_t scale = 0;           // 1/2/4/8 with an index, 0 without
  uint8_t sib_scale = 0;       // the SIB byte's scale factor (1/2/4/8) even without an index; 0 no SIB
  bool sib = false;            // a SIB byte is present
  int64_t disp = 0;            // displacement (EVEX disp8*N already scaled)
  uint8_t disp_bytes = 0;      // displacement bytes in the encoding: 0, 1, 2, 4 or 8
  uint8_t addr_bits = 0;       // 16, 32 or 64
  MemKind kind = MemKind::data;
  uint8_t broadcast = 0;       // EVEX embedded broadcast {1toN}: N, else 0

  constexpr bool rip_relative() const { return base.cls == RegClass::ip; }
};

enum class OperandKind : uint8_t {
  none,
  reg,
  mem,
  imm,      // Imm::value as the instruction uses it (sign- or zero-extended to `bits`)
  rel,      // relative branch target: Imm::value = signed displacement from the next RIP
  abs,      // absolute branch target (JMPABS): Imm::value = target
  far_ptr,  // ptr16:16/32: Imm::value = offset, far_selector = selector
};

enum class Visibility : uint8_t {
  explicit_,  // written in the assembly syntax and encoded
  implicit,   // written in the syntax, not encoded (e.g. the AL of `add al, 1`, string operands)
  hidden,     // neither (e.g. RFLAGS, the RSP of PUSH)
};

// Which encoding field names the operand (what REX2/EVEX R4/X4/B4/V4 extend).
enum class Field : uint8_t { none, modrm_reg, modrm_rm, opcode_reg, vvvv, is4, mask, imm, disp };

enum Access : uint8_t {
  access_read = 1,
  access_write = 2,
  access_cond_read = 4,
  access_cond_write = 8,
};

struct Imm {
  uint64_t value = 0;
  uint8_t bytes = 0;       // bytes in the encoding
  bool is_signed = false;  // the encoding is sign-extended to the operand size
};

struct Operand {
  OperandKind kind = OperandKind::none;
  Visibility visibility = Visibility::explicit_;
  Field field = Field::none;
  uint8_t access = 0;      // Access bits
  uint16_t bits = 0;       // operand size in bits (memory: access size; 0 for agen)
  Reg reg;
  Mem mem;
  Imm imm;
  uint16_t far_selector = 0;
};

// Legacy prefixes and REX as they apply to the instruction (SDM Vol. 2 §2.1).
struct Prefixes {
  uint8_t count = 0;        // bytes before REX2/VEX/EVEX/opcode (legacy prefixes + ignored REX)
  bool lock = false;        // F0
  bool rep = false;         // F3 present
  bool repne = false;       // F2 present
  uint8_t last_rep = 0;     // 0xF2 or 0xF3, whichever came last (it is the one that counts); 0 none
  uint8_t mandatory = 0;    // 0x66/0xF2/0xF3 consumed as a mandatory (opcode-selecting) prefix; 0 none
  bool opsize = false;      // 66
  bool addrsize = false;    // 67
  uint8_t segment = 0;      // last segment override byte (26 2E 36 3E 64 65), 0 none
  uint8_t rex = 0;          // effective REX byte (40-4F right before the opcode/escape), 0 none
};

// REX2 payload (spec §1.1): D5 | M0 R4 X4 B4 W R3 X3 B3 | opcode. All bits positive.
struct Rex2 {
  bool present = false;
  uint8_t payload = 0;
  uint8_t m0 = 0, r4 = 0, x4 = 0, b4 = 0, w = 0, r3 = 0, x3 = 0, b3 = 0;
};

// What an EVEX encoding carries (spec §2).
enum class EvexForm : uint8_t {
  avx512,           // an AVX-512/AVX10 instruction (possibly with EGPRs in address or GPR operands)
  legacy_promoted,  // map 4: a legacy integer instruction, with NDD/NF/ZU/CCMP/... extensions
  vex_promoted,     // a VEX-only instruction (BMI, CMPccXADD, KMOV, AMX, ...) in EVEX, with NF
};

// EVEX payload with the APX fields decoded to positive polarity (spec §2).
struct Evex {
  bool present = false;  // any EVEX (62 in 64-bit mode, or mod=11 outside)
  bool apx = false;      // uses an APX extension: map 4, B4, X4, or R4/V4 naming a GPR
  EvexForm form = EvexForm::avx512;
  uint8_t p0 = 0, p1 = 0, p2 = 0;
  uint8_t map = 0;                             // P0[2:0]
  uint8_t r3 = 0, r4 = 0, x3 = 0, x4 = 0, b3 = 0, b4 = 0;  // positive
  uint8_t w = 0;
  uint8_t vvvv = 0;                            // 5 bits: V4:vvvv, positive
  uint8_t pp = 0;                              // 0 none, 1 = 66, 2 = F3, 3 = F2
  uint8_t ll = 0;
  uint8_t z = 0, b = 0, aaa = 0;               // b = ND for map-4 legacy forms
  uint8_t nd = 0, nf = 0;                      // map-4: new data destination, no flags
  uint8_t scc = 0;                             // CCMP/CTEST: source condition code (P2[3:0])
  uint8_t dfv = 0;                             // CCMP/CTEST: default flags value OF SF ZF CF
};

// Vector extras (VEX/EVEX), as the formatter and a future vector emulator need them.
struct Avx {
  uint16_t vector_bits = 0;   // 128/256/512, 0 for non-vector
  Reg mask;                   // EVEX {k1..k7}, none otherwise
  bool zeroing = false;       // {z}
  uint8_t rounding = 0;       // EVEX static rounding: 0 none, 1 rn, 2 rd, 3 ru, 4 rz
  bool sae = false;           // {sae}
};

enum class Encoding : uint8_t { legacy, rex2, vex, evex, xop, amd3dnow, mvex };

inline constexpr unsigned kMaxOperands = 10;       // == ZYDIS_MAX_OPERAND_COUNT
inline constexpr unsigned kMaxInstructionLength = 15;

struct Instruction {
  Fault fault = Fault::ud;
  Reason reason = Reason::internal;
  CpuMode mode = CpuMode::bits64;
  uint8_t length = 0;               // valid when fault == none (else bytes consumed so far, info only)
  Mnemonic mnemonic = Mnemonic::invalid;
  Encoding encoding = Encoding::legacy;
  uint8_t map = 0;                  // 0 one-byte, 1 = 0F, 2 = 0F38, 3 = 0F3A, 4..7 EVEX/VEX maps, 8.. XOP
  uint8_t opcode = 0;
  uint8_t operand_bits = 0;         // effective operand size
  uint8_t address_bits = 0;         // effective address size
  uint8_t stack_bits = 0;
  Prefixes prefixes;
  Rex2 rex2;
  Evex evex;
  Avx avx;
  bool has_modrm = false;
  uint8_t modrm = 0;
  bool has_sib = false;
  uint8_t sib = 0;
  uint64_t zydis_attributes = 0;    // ZYDIS_ATTRIB_* of the decode (string op, HAS_REP, ...), 0 for own forms
  uint8_t zydis_category = 0;       // ZydisInstructionCategory (ZYDIS_CATEGORY_STRINGOP, ...), 0 for own forms
  bool far_branch = false;          // far CALL/JMP/RET (ptr16:xx or m16:xx)
  uint8_t operand_count = 0;        // all operands, hidden ones included
  Operand operands[kMaxOperands];

  constexpr bool ok() const { return fault == Fault::none; }
  // Decoded, and an instruction apexvisor's emulator may handle (EVEX-APX is recognised but
  // reported as not emulated, as KVM emulates no EVEX; the hypervisor's answer is
  // vmm/handlers/emulate_at_rip.hpp's unemulated_evex_answer).
  constexpr bool emulatable() const { return fault == Fault::none && reason == Reason::ok; }
};

}  // namespace decode
