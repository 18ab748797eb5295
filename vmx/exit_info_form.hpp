// Which form of VM-exit register information this host produces.
//   legacy:   32-bit VM-exit instruction-information field (VMCS 0x440E), 4-bit register
//             numbers (RAX..R15); MOV CR exit qualification register in bits 11:8.
//   extended: the host enumerates APX (CPUID.(7,1):EDX[21]). The 64-bit extended
//             instruction-information field (VMCS 0x2406) carries 5-bit register numbers
//             (R16..R31 included) and is read instead of 0x440E; the MOV CR exit
//             qualification register field is bits 12:8.
// Source: shared/apx/spec.md §4 (KVM APX series v2 07/16: `vmx_insn_info_extended()` is
// `static_cpu_has(X86_FEATURE_APX)`; bit 12 is used only with APX enumerated because "there is
// no guarantee that older implementations always zeroed this bit"). The choice depends on the
// host CPU only, never on the guest's XCR0: the field exists whatever XCR0.APX is.
#pragma once
#include <stdint.h>

namespace vmx {

enum class ExitInfoForm : uint8_t { legacy, extended };

constexpr ExitInfoForm exit_info_form(bool host_enumerates_apx) {
  return host_enumerates_apx ? ExitInfoForm::extended : ExitInfoForm::legacy;
}

}  // namespace vmx
