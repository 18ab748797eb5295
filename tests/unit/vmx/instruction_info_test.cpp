// The VM-exit instruction-information field, both forms, every exit type whose SDM table
// defines it (SDM 28.2.5), every register number the form can carry.
#include "vmx/instruction_info.hpp"

#include <catch.hpp>
#include <string>
#include <vector>

#include "vmx/fake_vmcs.hpp"

using namespace vmx;
namespace f = vmx::insn_field;

namespace {

// Bit positions, written out from the SDM tables (legacy) and from KVM APX v2 04/16
// `struct ext_insn_info` (extended), independently of vmx/instruction_info.cpp.
struct Pos {
  unsigned shift, width;
};
struct Layout {
  Pos scaling, reg1, asize, memreg, osize, seg, index, index_invalid, base, base_invalid, reg2, identity;
};
const Layout kLegacyBits{{0, 2},  {3, 4},  {7, 3},  {10, 1}, {11, 2}, {15, 3},
                         {18, 4}, {22, 1}, {23, 4}, {27, 1}, {28, 4}, {28, 2}};
const Layout kExtendedBits{{0, 2},  {16, 5}, {2, 2},  {4, 1},  {5, 2},  {7, 3},
                           {24, 5}, {10, 1}, {32, 5}, {11, 1}, {40, 5}, {0, 0}};

struct Fields {
  uint64_t scaling = 0, reg1 = 0, asize = 2, memreg = 0, osize = 0, seg = 3;
  uint64_t index = 0, index_invalid = 0, base = 0, base_invalid = 0, reg2 = 0, identity = 0;
};

uint64_t put(Pos p, uint64_t v) {
  if (p.width == 0) return 0;
  REQUIRE(v < (1ull << p.width));
  return v << p.shift;
}

uint64_t encode(ExitInfoForm form, const Fields& x) {
  const Layout& l = form == ExitInfoForm::extended ? kExtendedBits : kLegacyBits;
  return put(l.scaling, x.scaling) | put(l.reg1, x.reg1) | put(l.asize, x.asize) | put(l.memreg, x.memreg) |
         put(l.osize, x.osize) | put(l.seg, x.seg) | put(l.index, x.index) |
         put(l.index_invalid, x.index_invalid) | put(l.base, x.base) | put(l.base_invalid, x.base_invalid) |
         put(l.reg2, x.reg2) | (form == ExitInfoForm::legacy ? put(l.identity, x.identity) : 0);
}

// What each SDM table defines, as the field names of its rows. operand: 'm' memory only,
// 'r' register only, 'e' either (mem/reg bit). osize_bits: 1 for LGDT & co. (bit 11 only),
// 2 for RDRAND & co. (bits 12:11).
struct Row {
  InsnInfoKind kind;
  const char* name;
  const char* fields;
  char operand;
  unsigned osize_bits;
};
const Row kRows[] = {
    {InsnInfoKind::ins, "INS", "asize", 'm', 0},
    {InsnInfoKind::outs, "OUTS", "asize seg", 'm', 0},
    {InsnInfoKind::descriptor_table, "LGDT/LIDT/SGDT/SIDT", "scaling asize osize seg index base identity",
     'm', 1},
    {InsnInfoKind::ldtr_tr, "LLDT/LTR/SLDT/STR", "scaling reg1 asize memreg seg index base identity", 'e', 0},
    {InsnInfoKind::rdrand_rdseed, "RDRAND/RDSEED", "reg1 osize", 'r', 2},
    {InsnInfoKind::vmx_pointer, "VMCLEAR/VMPTRLD/VMPTRST/VMXON/XSAVES/XRSTORS",
     "scaling asize seg index base", 'm', 0},
    {InsnInfoKind::vmread_vmwrite, "VMREAD/VMWRITE", "scaling reg1 asize memreg seg index base reg2", 'e', 0},
    {InsnInfoKind::invalidation, "INVEPT/INVPCID/INVVPID", "scaling asize seg index base reg2", 'm', 0},
    {InsnInfoKind::umwait_tpause, "UMWAIT/TPAUSE", "reg1 osize", 'r', 2},
    {InsnInfoKind::loadiwkey, "LOADIWKEY", "reg1 reg2", 'r', 0},
    {InsnInfoKind::msr_immediate, "RDMSR/WRMSRNS imm", "reg1", 'r', 0},
    {InsnInfoKind::user_msr, "URDMSR/UWRMSR", "reg1", 'r', 0},
};

struct Table {
  InsnInfoKind kind;
  const char* name;
  bool scaling, reg1, asize, memreg, osize, seg, index, base, reg2, identity;
  char operand;
  unsigned osize_bits;
};

bool lists(const char* fields, const char* field) {
  return (" " + std::string(fields) + " ").find(" " + std::string(field) + " ") != std::string::npos;
}

std::vector<Table> make_tables() {
  std::vector<Table> v;
  for (const Row& r : kRows) {
    const char* x = r.fields;
    v.push_back({r.kind, r.name, lists(x, "scaling"), lists(x, "reg1"), lists(x, "asize"), lists(x, "memreg"),
                 lists(x, "osize"), lists(x, "seg"), lists(x, "index"), lists(x, "base"), lists(x, "reg2"),
                 lists(x, "identity"), r.operand, r.osize_bits});
  }
  return v;
}
const std::vector<Table> kTables = make_tables();
static_assert(sizeof(kRows) / sizeof(kRows[0]) == static_cast<size_t>(InsnInfoKind::count));

const ExitInfoForm kForms[] = {ExitInfoForm::legacy, ExitInfoForm::extended};
const char* form_name(ExitInfoForm form) { return form == ExitInfoForm::extended ? "extended" : "legacy"; }
unsigned max_reg(ExitInfoForm form) { return form == ExitInfoForm::extended ? 31 : 15; }

// The defined-field mask the SDM table gives for a decode with the given operand kind and
// index validity (and form: identity has no extended position).
uint16_t expected_defined(const Table& t, ExitInfoForm form, bool is_register, bool index_valid) {
  uint16_t m = 0;
  const bool mem = !is_register;
  if (t.scaling && mem && index_valid) m |= f::scaling;
  if (t.reg1 && (t.operand != 'e' || is_register)) m |= f::reg1;
  if (t.asize && mem) m |= f::address_size;
  if (t.memreg) m |= f::mem_reg;
  if (t.osize) m |= f::operand_size;
  if (t.seg && mem) m |= f::segment;
  if (t.index && mem) m |= f::index;
  if (t.base && mem) m |= f::base;
  if (t.reg2) m |= f::reg2;
  if (t.identity && form == ExitInfoForm::legacy) m |= f::identity;
  return m;
}

bool register_operand(const Table& t, const Fields& x) {
  return t.operand == 'r' || (t.operand == 'e' && x.memreg);
}

}  // namespace

TEST_CASE("instruction info: defined fields per exit type and form") {
  for (const Table& t : kTables) {
    for (ExitInfoForm form : kForms) {
      for (uint64_t memreg : {0, 1}) {
        for (uint64_t index_invalid : {0, 1}) {
          CAPTURE(t.name, form_name(form), memreg, index_invalid);
          Fields x;
          x.memreg = memreg;
          x.index_invalid = index_invalid;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          const bool is_reg = register_operand(t, x);
          CHECK(i.kind == t.kind);
          CHECK(i.form == form);
          CHECK(i.is_register == is_reg);
          CHECK(i.defined == expected_defined(t, form, is_reg, !index_invalid));
          CHECK(i.is_memory() == (t.asize && !is_reg));
        }
      }
    }
  }
}

TEST_CASE("instruction info: every register number in reg1, reg2, index and base") {
  for (const Table& t : kTables) {
    for (ExitInfoForm form : kForms) {
      for (unsigned n = 0; n <= max_reg(form); ++n) {
        CAPTURE(t.name, form_name(form), n);
        if (t.reg1) {
          Fields x;
          x.memreg = 1;  // register form where the table has one
          x.reg1 = n;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.has(f::reg1));
          CHECK(i.reg1 == n);
        }
        if (t.reg2) {
          Fields x;
          x.reg2 = n;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.has(f::reg2));
          CHECK(i.reg2 == n);
        }
        if (t.index) {
          Fields x;
          x.index = n;
          x.scaling = n & 3;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.index_valid);
          CHECK(i.index_reg == n);
          CHECK(i.scaling == (n & 3));
        }
        if (t.base) {
          Fields x;
          x.base = n;
          x.index_invalid = 1;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.base_valid);
          CHECK(i.base_reg == n);
          CHECK_FALSE(i.index_valid);
        }
      }
    }
  }
}

TEST_CASE("instruction info: invalid index and base") {
  for (const Table& t : kTables) {
    if (!t.index) continue;
    for (ExitInfoForm form : kForms) {
      CAPTURE(t.name, form_name(form));
      Fields x;
      x.index = 7;
      x.base = 5;
      x.scaling = 3;
      x.index_invalid = 1;
      x.base_invalid = 1;
      const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
      CHECK(i.has(f::index));
      CHECK(i.has(f::base));
      CHECK_FALSE(i.index_valid);
      CHECK_FALSE(i.base_valid);
      CHECK(i.index_reg == 0);  // "undefined" register numbers are not passed on
      CHECK(i.base_reg == 0);
      CHECK_FALSE(i.has(f::scaling));  // scaling is undefined without an index
      CHECK(i.scaling == 0);
    }
  }
}

TEST_CASE("instruction info: every address size, segment and scaling") {
  for (const Table& t : kTables) {
    for (ExitInfoForm form : kForms) {
      const unsigned asize_max = form == ExitInfoForm::extended ? 3 : 7;
      if (t.asize) {
        for (unsigned a = 0; a <= asize_max; ++a) {
          CAPTURE(t.name, form_name(form), a);
          Fields x;
          x.asize = a;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.address_size == (a <= 2 ? static_cast<AddressSize>(a) : AddressSize::invalid));
        }
      }
      if (t.seg) {
        for (unsigned s = 0; s <= 7; ++s) {
          CAPTURE(t.name, form_name(form), s);
          Fields x;
          x.seg = s;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.segment == (s <= 5 ? static_cast<SegmentReg>(s) : SegmentReg::invalid));
        }
      } else {
        const InstructionInfo i = decode_instruction_info(encode(form, Fields{}), form, t.kind);
        CHECK(i.segment == SegmentReg::invalid);
      }
      if (t.scaling) {
        for (unsigned sc = 0; sc <= 3; ++sc) {
          CAPTURE(t.name, form_name(form), sc);
          Fields x;
          x.scaling = sc;
          x.index = 1;
          const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
          CHECK(i.has(f::scaling));
          CHECK(i.scaling == sc);
        }
      }
    }
  }
}

TEST_CASE("instruction info: operand size") {
  for (const Table& t : kTables) {
    if (!t.osize) continue;
    for (ExitInfoForm form : kForms) {
      for (unsigned o = 0; o <= 3; ++o) {
        CAPTURE(t.name, form_name(form), o);
        Fields x;
        x.osize = o;
        const InstructionInfo i = decode_instruction_info(encode(form, x), form, t.kind);
        const unsigned v = t.osize_bits == 1 ? (o & 1) : o;  // LGDT & co.: bit 11 only
        CHECK(i.operand_size == (v <= 2 ? static_cast<OperandSize>(v) : OperandSize::invalid));
      }
    }
  }
}

TEST_CASE("instruction info: instruction identity (legacy 29:28)") {
  for (InsnInfoKind kind : {InsnInfoKind::descriptor_table, InsnInfoKind::ldtr_tr}) {
    for (unsigned id = 0; id <= 3; ++id) {
      CAPTURE(static_cast<int>(kind), id);
      Fields x;
      x.identity = id;
      const InstructionInfo legacy =
          decode_instruction_info(encode(ExitInfoForm::legacy, x), ExitInfoForm::legacy, kind);
      CHECK(legacy.has(f::identity));
      CHECK(legacy.identity == id);
      // Extended: no known position; bits 29:28 belong to the index field there.
      const InstructionInfo ext = decode_instruction_info(
          encode(ExitInfoForm::extended, Fields{}) | (uint64_t(id) << 28), ExitInfoForm::extended, kind);
      CHECK_FALSE(ext.has(f::identity));
      CHECK(ext.identity == 0);
    }
  }
  CHECK(static_cast<unsigned>(DescriptorTableInsn::lidt) == 3);
  CHECK(static_cast<unsigned>(LdtrTrInsn::ltr) == 3);
}

TEST_CASE("instruction info: legacy form ignores bits 63:32; extended form uses them") {
  const uint64_t legacy = encode(ExitInfoForm::legacy, Fields{});
  const InstructionInfo a = decode_instruction_info(legacy, ExitInfoForm::legacy, InsnInfoKind::invalidation);
  const InstructionInfo b = decode_instruction_info(legacy | 0xffffffff00000000ull, ExitInfoForm::legacy,
                                                    InsnInfoKind::invalidation);
  CHECK(a.defined == b.defined);
  CHECK(a.base_reg == b.base_reg);
  CHECK(a.reg2 == b.reg2);
  CHECK(b.raw == legacy);
  // A legacy 4-bit register field can never name R16..R31.
  const InstructionInfo c = decode_instruction_info(0xffffffffu & ~((1u << 22) | (1u << 27)),
                                                    ExitInfoForm::legacy, InsnInfoKind::invalidation);
  CHECK(c.index_reg == 15);
  CHECK(c.base_reg == 15);
  CHECK(c.reg2 == 15);
}

TEST_CASE("instruction info: literal rows") {
  struct Row {
    const char* insn;
    ExitInfoForm form;
    InsnInfoKind kind;
    uint64_t raw;
    bool is_reg;
    uint8_t scaling;
    AddressSize asize;
    SegmentReg seg;
    bool index_valid;
    uint8_t index;
    bool base_valid;
    uint8_t base;
    uint8_t reg1, reg2;
  };
  const Row rows[] = {
      // invept 0x10(%rbx,%rsi,8),%rcx: scale 3, 64-bit, DS, index RSI, base RBX, reg2 RCX
      {"invept 0x10(%rbx,%rsi,8),%rcx", ExitInfoForm::legacy, InsnInfoKind::invalidation, 0x11998103, false,
       3, AddressSize::a64, SegmentReg::ds, true, 6, true, 3, 0, 1},
      // invept 291(%r28,%r29,4),%r19 (EVEX map 4, shared/apx/spec.md §4.2)
      {"invept 291(%r28,%r29,4),%r19", ExitInfoForm::extended, InsnInfoKind::invalidation,
       0x0000131c1d00018aull, false, 2, AddressSize::a64, SegmentReg::ds, true, 29, true, 28, 0, 19},
      // vmread %rax,%rbx: reg form, reg1 = RBX (destination r/m), reg2 = RAX (encoding)
      {"vmread %rax,%rbx", ExitInfoForm::legacy, InsnInfoKind::vmread_vmwrite, 0x0000041b, true, 0,
       AddressSize::invalid, SegmentReg::invalid, false, 0, false, 0, 3, 0},
      // vmwrite %r17,%r30 (extended): reg form, reg1 = R17 (source r/m), reg2 = R30 (encoding)
      {"vmwrite %r17,%r30", ExitInfoForm::extended, InsnInfoKind::vmread_vmwrite, 0x00001e0000110010ull, true,
       0, AddressSize::invalid, SegmentReg::invalid, false, 0, false, 0, 17, 30},
      // vmptrld (%rdi): no index (bit 22), base RDI, 64-bit, DS
      {"vmptrld (%rdi)", ExitInfoForm::legacy, InsnInfoKind::vmx_pointer, 0x03d98100, false, 0,
       AddressSize::a64, SegmentReg::ds, false, 0, true, 7, 0, 0},
      // vmclear %fs:8(,%r20,2) (extended): no base, index R20, FS, 64-bit
      {"vmclear %fs:8(,%r20,2)", ExitInfoForm::extended, InsnInfoKind::vmx_pointer, 0x0000000014000a09ull,
       false, 1, AddressSize::a64, SegmentReg::fs, true, 20, false, 0, 0, 0},
      // rdrand %r31d: reg1 = R31, operand size 32
      {"rdrand %r31d", ExitInfoForm::extended, InsnInfoKind::rdrand_rdseed, 0x00000000001f0020ull, true, 0,
       AddressSize::invalid, SegmentReg::invalid, false, 0, false, 0, 31, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.insn);
    const InstructionInfo i = decode_instruction_info(r.raw, r.form, r.kind);
    CHECK(i.is_register == r.is_reg);
    CHECK(i.scaling == r.scaling);
    CHECK(i.address_size == r.asize);
    CHECK(i.segment == r.seg);
    CHECK(i.index_valid == r.index_valid);
    CHECK(i.index_reg == r.index);
    CHECK(i.base_valid == r.base_valid);
    CHECK(i.base_reg == r.base);
    CHECK(i.reg1 == r.reg1);
    CHECK(i.reg2 == r.reg2);
  }
}

TEST_CASE("instruction info: which exits carry it") {
  struct Row {
    ExitReason r;
    uint64_t qual;
    bool has;
    InsnInfoKind kind;
  };
  const Row rows[] = {
      {ExitReason::vmclear, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::vmptrld, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::vmptrst, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::vmxon, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::xsaves, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::xrstors, 0, true, InsnInfoKind::vmx_pointer},
      {ExitReason::vmread, 0, true, InsnInfoKind::vmread_vmwrite},
      {ExitReason::vmwrite, 0, true, InsnInfoKind::vmread_vmwrite},
      {ExitReason::invept, 0, true, InsnInfoKind::invalidation},
      {ExitReason::invvpid, 0, true, InsnInfoKind::invalidation},
      {ExitReason::invpcid, 0, true, InsnInfoKind::invalidation},
      {ExitReason::gdtr_idtr_access, 0, true, InsnInfoKind::descriptor_table},
      {ExitReason::ldtr_tr_access, 0, true, InsnInfoKind::ldtr_tr},
      {ExitReason::rdrand, 0, true, InsnInfoKind::rdrand_rdseed},
      {ExitReason::rdseed, 0, true, InsnInfoKind::rdrand_rdseed},
      {ExitReason::umwait, 0, true, InsnInfoKind::umwait_tpause},
      {ExitReason::tpause, 0, true, InsnInfoKind::umwait_tpause},
      {ExitReason::loadiwkey, 0, true, InsnInfoKind::loadiwkey},
      {ExitReason::rdmsr_immediate, 0x10, true, InsnInfoKind::msr_immediate},
      {ExitReason::wrmsrns_immediate, 0x10, true, InsnInfoKind::msr_immediate},
      {ExitReason::urdmsr, 0x1c, true, InsnInfoKind::user_msr},
      {ExitReason::uwrmsr, 0x1c, true, InsnInfoKind::user_msr},
      {ExitReason::rdmsr, 0, false, InsnInfoKind::count},
      {ExitReason::rdmsrlist, 0, false, InsnInfoKind::count},
      {ExitReason::io_instruction, 0x0060'0018, true, InsnInfoKind::ins},     // string, IN
      {ExitReason::io_instruction, 0x0060'0010, true, InsnInfoKind::outs},    // string, OUT
      {ExitReason::io_instruction, 0x0060'0008, false, InsnInfoKind::count},  // IN AL, DX
      {ExitReason::cpuid, 0, false, InsnInfoKind::count},
      {ExitReason::vmcall, 0, false, InsnInfoKind::count},
      {ExitReason::vmlaunch, 0, false, InsnInfoKind::count},
      {ExitReason::vmresume, 0, false, InsnInfoKind::count},
      {ExitReason::vmxoff, 0, false, InsnInfoKind::count},
      {ExitReason::ept_violation, 0, false, InsnInfoKind::count},
      {ExitReason::control_register_access, 0, false, InsnInfoKind::count},
  };
  for (const Row& r : rows) {
    CAPTURE(exit_reason_name(r.r), r.qual);
    InsnInfoKind k = InsnInfoKind::count;
    CHECK(instruction_info_kind(r.r, r.qual, &k) == r.has);
    if (r.has) CHECK(k == r.kind);
  }
}

TEST_CASE("instruction info: the form picks the VMCS field (0x440E legacy, 0x2406 extended)") {
  FakeVmcs v;
  // legacy: base RBX; extended: base R27
  v.set(VmcsField::vm_exit_instruction_info, 0x01d98100);
  v.set(VmcsField::extended_instruction_info, 0x0000001b00000508ull);
  const InstructionInfo legacy = read_instruction_info(v, ExitInfoForm::legacy, InsnInfoKind::vmx_pointer);
  const InstructionInfo ext = read_instruction_info(v, ExitInfoForm::extended, InsnInfoKind::vmx_pointer);
  CHECK(legacy.form == ExitInfoForm::legacy);
  CHECK(legacy.base_valid);
  CHECK(legacy.base_reg == 3);
  CHECK_FALSE(legacy.index_valid);
  CHECK(ext.form == ExitInfoForm::extended);
  CHECK(ext.base_valid);
  CHECK(ext.base_reg == 27);
  CHECK_FALSE(ext.index_valid);
  CHECK(ext.address_size == AddressSize::a64);
  CHECK(ext.segment == SegmentReg::ss);
  CHECK(exit_info_form(true) == ExitInfoForm::extended);
  CHECK(exit_info_form(false) == ExitInfoForm::legacy);
}
