#include "vmx/memory_operand.hpp"

#include "vmx/controls.hpp"

namespace vmx {
namespace {

constexpr uint64_t address_mask(AddressSize a) {
  return a == AddressSize::a16 ? 0xffffull : a == AddressSize::a32 ? 0xffffffffull : ~0ull;
}

uint64_t reg(const GprFile& g, unsigned n, const uint64_t* rsp) {
  if (n == 4 && rsp) return *rsp;
  return g.gpr[n & 31];
}

}  // namespace

MemoryOperand compute_memory_operand(const InstructionInfo& info, uint64_t displacement, const GprFile& gprs,
                                     uint64_t segment_base, bool guest_64bit_mode, const uint64_t* rsp) {
  MemoryOperand m{};
  m.segment = info.segment;
  m.address_size = info.address_size;
  if (!info.is_memory()) {
    m.status = MemoryOperandStatus::not_memory;
    return m;
  }
  if (info.address_size == AddressSize::invalid) {
    m.status = MemoryOperandStatus::bad_address_size;
    return m;
  }

  uint64_t sum;
  if (info.kind == InsnInfoKind::ins) {
    m.segment = SegmentReg::es;  // INS always stores to ES:[rDI]; no override (Vol. 2 INS)
    sum = reg(gprs, 7, rsp);
  } else if (info.kind == InsnInfoKind::outs) {
    sum = reg(gprs, 6, rsp);
  } else {
    sum = displacement;
    if (info.base_valid) sum += reg(gprs, info.base_reg, rsp);
    if (info.index_valid) sum += reg(gprs, info.index_reg, rsp) << info.scaling;
  }
  if (m.segment == SegmentReg::invalid) {
    m.status = MemoryOperandStatus::bad_segment;
    return m;
  }
  // The effective address is computed at the address size: higher carries are dropped.
  m.offset = sum & address_mask(info.address_size);
  if (guest_64bit_mode) {
    const bool has_base = m.segment == SegmentReg::fs || m.segment == SegmentReg::gs;
    m.linear = m.offset + (has_base ? segment_base : 0);
  } else {
    m.linear = (m.offset + segment_base) & 0xffffffffull;
  }
  m.status = MemoryOperandStatus::ok;
  return m;
}

VmcsField segment_base_field(SegmentReg seg) {
  switch (seg) {
    case SegmentReg::es: return VmcsField::guest_es_base;
    case SegmentReg::cs: return VmcsField::guest_cs_base;
    case SegmentReg::ss: return VmcsField::guest_ss_base;
    case SegmentReg::ds: return VmcsField::guest_ds_base;
    case SegmentReg::fs: return VmcsField::guest_fs_base;
    case SegmentReg::gs: return VmcsField::guest_gs_base;
    case SegmentReg::invalid: break;
  }
  return VmcsField::guest_ds_base;
}

bool guest_in_64bit_mode(VmcsAccess& vmcs) {
  const bool lma = vmcs.read(VmcsField::vm_entry_controls) & entry_ctl::ia32e_mode_guest;
  const bool cs_l = vmcs.read(VmcsField::guest_cs_access_rights) & (1u << 13);
  return lma && cs_l;
}

MemoryOperand read_memory_operand(VmcsAccess& vmcs, const InstructionInfo& info, const GprFile& gprs) {
  const bool is_string_io = info.kind == InsnInfoKind::ins || info.kind == InsnInfoKind::outs;
  const uint64_t displacement = is_string_io ? 0 : vmcs.read(VmcsField::exit_qualification);
  const SegmentReg seg = info.kind == InsnInfoKind::ins ? SegmentReg::es : info.segment;
  const uint64_t base = seg != SegmentReg::invalid ? vmcs.read(segment_base_field(seg)) : 0;
  const uint64_t rsp = vmcs.read(VmcsField::guest_rsp);
  return compute_memory_operand(info, displacement, gprs, base, guest_in_64bit_mode(vmcs), &rsp);
}

}  // namespace vmx
