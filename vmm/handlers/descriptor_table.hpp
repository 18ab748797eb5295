// The descriptor-table guard (config dt_guard=on, issue P3): with the "descriptor-table
// exiting" control set (SDM Vol 3C 26.6.2, Table 26-7), LGDT, LIDT, SGDT, SIDT exit with
// reason 46 and LLDT, LTR, SLDT, STR with reason 47 (26.1.3). Each is emulated against the
// guest state in the VMCS and guest memory through the guest's paging, logged (debug; the
// first of each kind per CPU at info) and counted per CPU, then RIP is advanced.
//
// Where the facts come from, per exit:
//  - the VM-exit instruction information (legacy 0x440E or extended 0x2406, whichever
//    policy.exit_info_form names; vmx/instruction_info) and the exit qualification (the
//    displacement, SDM 28.2.1) give the memory operand (vmx/memory_operand), the register
//    operand (reg1) and, in the legacy form, the instruction identity (bits 29:28);
//  - the guest instruction at RIP, decoded with decode/, gives what the information field
//    lacks: the identity in the extended form (it has no known place there, spec.md §4.2),
//    the operand size (SLDT/STR have no operand-size field, and Bochs 2.7 leaves bits 12:11
//    at 0 for LGDT/LIDT even under a 66 prefix), and the base of a RIP-relative operand (the
//    base field can only name a GPR);
//  - every fact both sources give (identity, register/memory, register number, segment,
//    effective address, instruction length) must agree; a disagreement stops the guest CPU
//    with both values rather than guess (e.g. if the ASSUMED extended layout for exits 46/47
//    were wrong on APX hardware).
#pragma once
#include <stdint.h>

#include "vmm/exit_context.hpp"

namespace vmm {

// In the order of the legacy identity field: exit 46 identities 0-3, then exit 47's.
enum class DtInsn : uint8_t { sgdt, sidt, lgdt, lidt, sldt, str, lldt, ltr, count };
inline constexpr unsigned kDtInsnCount = static_cast<unsigned>(DtInsn::count);

const char* dt_insn_name(DtInsn insn);  // "SGDT", ...

// How many times `insn` was emulated on `vcpu`.
uint64_t dt_guard_count(const Vcpu& vcpu, DtInsn insn);

}  // namespace vmm
