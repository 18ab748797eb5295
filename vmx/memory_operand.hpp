// The linear address of an instruction's memory operand at a VM exit, from the decoded
// instruction information, the displacement the exit qualification carries, the guest's GPRs
// and the segment base (SDM Vol. 3C 28.2.1: "for INVEPT, INVPCID, INVVPID, LGDT, LIDT, LLDT,
// LTR, SGDT, SIDT, SLDT, STR, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMXON, XRSTORS and
// XSAVES the exit qualification receives the value of the instruction's displacement field,
// sign-extended to 64 bits", 0 without one; Vol. 1 3.7.5 "Specifying an Offset", Vol. 3A
// 3.4 / Vol. 1 3.3.7 for segmentation and address-size truncation).
//
// The result is the address only: segment-limit, access-rights, canonical and paging checks,
// and the faults they raise, belong to the handler that uses it.
#pragma once
#include <stdint.h>

#include "vmx/gpr_file.hpp"
#include "vmx/instruction_info.hpp"
#include "vmx/vmcs_access.hpp"

namespace vmx {

enum class MemoryOperandStatus : uint8_t {
  ok,
  not_memory,        // register operand, or a kind without a memory operand
  bad_address_size,  // address-size value 3 (not used by the SDM)
  bad_segment,       // segment value 6 or 7 (not used by the SDM)
};

struct MemoryOperand {
  MemoryOperandStatus status;
  SegmentReg segment;
  AddressSize address_size;
  // base + (index << scaling) + displacement, truncated to the address size (the offset in
  // the segment, "effective address").
  uint64_t offset;
  // The segment base added to the offset: in 64-bit mode only FS and GS have a base (Vol. 1
  // 3.3.7.1) and the sum wraps at 2^64; outside 64-bit mode it wraps at 2^32.
  uint64_t linear;

  constexpr bool ok() const { return status == MemoryOperandStatus::ok; }
};

// Pure computation. `gprs.gpr[n]` is register n; RSP is gprs.gpr[4] unless `rsp` is given
// (RSP lives in the VMCS: design.md "The vCPU register file"). For INS/OUTS the operand is
// ES:[rDI] / seg:[rSI] (Vol. 2 INS/OUTS), so the base is RDI/RSI and there is no displacement.
MemoryOperand compute_memory_operand(const InstructionInfo& info, uint64_t displacement, const GprFile& gprs,
                                     uint64_t segment_base, bool guest_64bit_mode,
                                     const uint64_t* rsp = nullptr);

// The VMCS guest base field of a segment register (guest_es_base ... guest_gs_base).
VmcsField segment_base_field(SegmentReg seg);
// The guest runs in 64-bit mode: "IA-32e mode guest" entry control (= EFER.LMA after an exit,
// SDM 28.3.1) and CS.L (access-rights bit 13).
bool guest_in_64bit_mode(VmcsAccess& vmcs);

// (IA32_VMX_MISC[5]: every VM exit stores EFER.LMA into that control; set on all 64-bit CPUs.)
// Everything from the current VMCS: displacement from the exit qualification, segment base
// from the guest segment field, RSP from guest_rsp, the mode from guest_in_64bit_mode().
MemoryOperand read_memory_operand(VmcsAccess& vmcs, const InstructionInfo& info, const GprFile& gprs);

}  // namespace vmx
