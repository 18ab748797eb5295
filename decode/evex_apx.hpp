// EVEX with APX extensions (spec §2): map 4 (promoted legacy instructions, NDD/NF forms,
// PUSH2/POP2, CCMP/CTEST, CFCMOV, ...) and EVEX instructions whose B4/X4 bits, or R4/V4 bits
// on a GPR operand, name R16-R31. apexvisor recognises them, measures their length and
// describes their operands, and reports them as not emulated, as KVM emulates no EVEX (spec
// §2 "What a VMX emulator must do with EVEX"). What the hypervisor then answers: #UD for an
// access to the APIC page, a single step on a watched page (vmm/handlers/emulate_at_rip.hpp).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.hpp"
#include "decode/prefix_scan.hpp"

namespace decode {

// bytes[scan.end] == 0x62. Returns true if it handled the instruction (APX EVEX, or a fault
// such as truncation or APX disabled); false to let Zydis decode a classic EVEX (or BOUND).
bool decode_evex_apx(const uint8_t* bytes, size_t available, const Options& o, const PrefixScan& scan,
                     Instruction& out);

}  // namespace decode
