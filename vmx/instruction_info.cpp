#include "vmx/instruction_info.hpp"

namespace vmx {
namespace {

struct Bits {
  uint8_t shift;
  uint8_t width;  // 0: the form has no such field
  constexpr uint64_t get(uint64_t raw) const { return width ? (raw >> shift) & ((1ull << width) - 1) : 0; }
};

// Bit positions of every field in one form (header comment; SDM 28.2.5; KVM v2 04/16).
struct Layout {
  Bits scaling, reg1, address_size, mem_reg, operand_size, segment;
  Bits index, index_invalid, base, base_invalid, reg2, identity;
};
// Order: scaling, reg1, address size, mem/reg, operand size, segment, index, index invalid,
// base, base invalid, reg2, identity; {shift, width}.
constexpr Layout kLegacy = {
    {0, 2}, {3, 4}, {7, 3}, {10, 1}, {11, 2}, {15, 3}, {18, 4}, {22, 1}, {23, 4}, {27, 1}, {28, 4}, {28, 2},
};
constexpr Layout kExtended = {
    {0, 2}, {16, 5}, {2, 2}, {4, 1}, {5, 2}, {7, 3}, {24, 5}, {10, 1}, {32, 5}, {11, 1}, {40, 5}, {0, 0},
};

enum class Operand : uint8_t { memory, reg, either };

// What each SDM table defines (28.2.5). `osize_bits`: width of the operand-size field the table
// uses (LGDT & co. use only the low bit: 0 = 16-bit, 1 = 32-bit, undefined from 64-bit mode).
struct KindSpec {
  uint16_t fields;
  Operand operand;
  uint8_t osize_bits;
};
using namespace insn_field;
constexpr uint16_t kMemoryFields = scaling | address_size | segment | index | base;
constexpr KindSpec kKinds[] = {
    /* ins              */ {address_size, Operand::memory, 0},
    /* outs             */ {address_size | segment, Operand::memory, 0},
    /* descriptor_table */ {kMemoryFields | operand_size | identity, Operand::memory, 1},
    /* ldtr_tr          */ {kMemoryFields | reg1 | mem_reg | identity, Operand::either, 0},
    /* rdrand_rdseed    */ {reg1 | operand_size, Operand::reg, 2},
    /* vmx_pointer      */ {kMemoryFields, Operand::memory, 0},
    /* vmread_vmwrite   */ {kMemoryFields | reg1 | mem_reg | reg2, Operand::either, 0},
    /* invalidation     */ {kMemoryFields | reg2, Operand::memory, 0},
    /* umwait_tpause    */ {reg1 | operand_size, Operand::reg, 2},
    /* loadiwkey        */ {reg1 | reg2, Operand::reg, 0},
    /* msr_immediate    */ {reg1, Operand::reg, 0},
    /* user_msr         */ {reg1, Operand::reg, 0},
};
static_assert(sizeof(kKinds) / sizeof(kKinds[0]) == static_cast<size_t>(InsnInfoKind::count));

}  // namespace

InstructionInfo decode_instruction_info(uint64_t raw, ExitInfoForm form, InsnInfoKind kind) {
  const Layout& l = form == ExitInfoForm::extended ? kExtended : kLegacy;
  const size_t k = static_cast<size_t>(kind);
  const KindSpec spec =
      k < static_cast<size_t>(InsnInfoKind::count) ? kKinds[k] : KindSpec{0, Operand::reg, 0};

  InstructionInfo r{};
  r.kind = kind;
  r.form = form;
  r.raw = form == ExitInfoForm::legacy ? (raw & 0xffffffffu) : raw;
  r.address_size = AddressSize::invalid;
  r.operand_size = OperandSize::invalid;
  r.segment = SegmentReg::invalid;

  uint16_t f = spec.fields;
  // Mem/Reg (legacy bit 10, extended bit 4): where a table has it, it selects which half of
  // the table is defined; elsewhere the operand kind is fixed ("cleared to 0" = memory).
  r.is_register =
      spec.operand == Operand::reg || (spec.operand == Operand::either && l.mem_reg.get(raw) != 0);
  if (spec.operand == Operand::either) {
    if (r.is_register)
      f &= ~kMemoryFields;  // "undefined for register instructions (bit 10 is set)"
    else
      f &= static_cast<uint16_t>(~reg1);  // "undefined for memory instructions"
  }
  // The identity bits have no known place in the extended field (see the header).
  if (form == ExitInfoForm::extended) f &= static_cast<uint16_t>(~identity);

  if (f & address_size) {
    const uint64_t v = l.address_size.get(raw);
    r.address_size = v <= 2 ? static_cast<AddressSize>(v) : AddressSize::invalid;
  }
  if (f & operand_size) {
    uint64_t v = l.operand_size.get(raw);
    if (spec.osize_bits == 1) v &= 1;
    r.operand_size = v <= 2 ? static_cast<OperandSize>(v) : OperandSize::invalid;
  }
  if (f & segment) {
    const uint64_t v = l.segment.get(raw);
    r.segment = v <= 5 ? static_cast<SegmentReg>(v) : SegmentReg::invalid;
  }
  if (f & index) {
    r.index_valid = l.index_invalid.get(raw) == 0;
    r.index_reg = r.index_valid ? static_cast<uint8_t>(l.index.get(raw)) : 0;
  }
  if (f & base) {
    r.base_valid = l.base_invalid.get(raw) == 0;
    r.base_reg = r.base_valid ? static_cast<uint8_t>(l.base.get(raw)) : 0;
  }
  // Scaling is "undefined for instructions with no index register".
  if ((f & scaling) && r.index_valid)
    r.scaling = static_cast<uint8_t>(l.scaling.get(raw));
  else
    f &= static_cast<uint16_t>(~scaling);
  if (f & reg1) r.reg1 = static_cast<uint8_t>(l.reg1.get(raw));
  if (f & reg2) r.reg2 = static_cast<uint8_t>(l.reg2.get(raw));
  if (f & identity) r.identity = static_cast<uint8_t>(l.identity.get(raw));
  r.defined = f;
  return r;
}

bool instruction_info_kind(ExitReason reason, uint64_t exit_qualification, InsnInfoKind* kind) {
  switch (reason) {
    case ExitReason::io_instruction:
      // I/O exit qualification bit 4 = string, bit 3 = direction (1 = IN), SDM 28.2.1.
      if (!(exit_qualification & (1u << 4))) return false;
      *kind = (exit_qualification & (1u << 3)) ? InsnInfoKind::ins : InsnInfoKind::outs;
      return true;
    case ExitReason::gdtr_idtr_access: *kind = InsnInfoKind::descriptor_table; return true;
    case ExitReason::ldtr_tr_access: *kind = InsnInfoKind::ldtr_tr; return true;
    case ExitReason::rdrand:
    case ExitReason::rdseed: *kind = InsnInfoKind::rdrand_rdseed; return true;
    case ExitReason::vmclear:
    case ExitReason::vmptrld:
    case ExitReason::vmptrst:
    case ExitReason::vmxon:
    case ExitReason::xsaves:
    case ExitReason::xrstors: *kind = InsnInfoKind::vmx_pointer; return true;
    case ExitReason::vmread:
    case ExitReason::vmwrite: *kind = InsnInfoKind::vmread_vmwrite; return true;
    case ExitReason::invept:
    case ExitReason::invpcid:
    case ExitReason::invvpid: *kind = InsnInfoKind::invalidation; return true;
    case ExitReason::umwait:
    case ExitReason::tpause: *kind = InsnInfoKind::umwait_tpause; return true;
    case ExitReason::loadiwkey: *kind = InsnInfoKind::loadiwkey; return true;
    case ExitReason::rdmsr_immediate:
    case ExitReason::wrmsrns_immediate: *kind = InsnInfoKind::msr_immediate; return true;
    case ExitReason::urdmsr:
    case ExitReason::uwrmsr: *kind = InsnInfoKind::user_msr; return true;
    default: return false;
  }
}

InstructionInfo read_instruction_info(VmcsAccess& vmcs, ExitInfoForm form, InsnInfoKind kind) {
  const uint64_t raw = form == ExitInfoForm::extended ? vmcs.read(VmcsField::extended_instruction_info)
                                                      : vmcs.read(VmcsField::vm_exit_instruction_info);
  return decode_instruction_info(raw, form, kind);
}

}  // namespace vmx
