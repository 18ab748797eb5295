// Exit qualifications that name registers or ports (SDM Vol. 3C 28.2.1 "Basic VM-Exit
// Information": the tables for control-register accesses, MOV DR and I/O instructions), and
// the bits of the EPT-violation qualification that more than one handler reads. The other
// qualifications live with their users.
#pragma once
#include <stdint.h>

#include "vmx/exit_info_form.hpp"

namespace vmx {

// ---- control-register accesses (exit 28) ------------------------------------------------
//   3:0   CR number (0, 3, 4, 8; 0 for CLTS and LMSW)
//   5:4   access type: 0 MOV to CR, 1 MOV from CR, 2 CLTS, 3 LMSW
//   6     LMSW operand type: 0 register, 1 memory
//   11:8  GPR of MOV CR (legacy). With APX enumerated: 12:8 (shared/apx/spec.md §4.3; KVM APX
//         v2 07/16 reads bit 12 only then, since older CPUs need not have zeroed it)
//   31:16 LMSW source data
enum class CrAccessType : uint8_t { mov_to_cr = 0, mov_from_cr = 1, clts = 2, lmsw = 3 };

struct MovCrQualification {
  uint8_t cr;
  CrAccessType access;
  bool lmsw_memory;      // LMSW only: the operand is in memory (its linear address is in the
                         // guest-linear-address field)
  uint8_t gpr;           // MOV to/from CR only; 0..15 legacy, 0..31 extended
  uint16_t lmsw_source;  // LMSW only
};
MovCrQualification decode_mov_cr(uint64_t qualification, ExitInfoForm form);

// A MOV to CR4 (CR number 4, access type 0), and the GPR of a MOV CR: what the CR-access
// handler's reserved-bit check (vmm/handlers/cr_access.cpp) reads before the full decode.
constexpr bool is_mov_to_cr4(uint64_t qualification) { return (qualification & 0x3f) == 4; }
constexpr uint8_t mov_cr_gpr(uint64_t qualification, ExitInfoForm form) {
  return static_cast<uint8_t>((qualification >> 8) & (form == ExitInfoForm::extended ? 0x1f : 0xf));
}

// ---- MOV DR (exit 29) ----------------------------------------------------------------------
//   2:0   DR number;  4  direction: 0 MOV to DR, 1 MOV from DR;  11:8  GPR (legacy)
// APX CHOICE: with APX enumerated this reads the GPR from bits 12:8, like MOV CR.
//   Source check: the KVM APX series (v2 06/16 and 07/16) widens only the MOV CR paths
//   (handle_cr, nested_vmx_exit_handled_cr); KVM's handle_dr keeps DEBUG_REG_ACCESS_REG =
//   bits 11:8. shared/apx/spec.md §4.3 marks a 5-bit MOV DR field UNVERIFIED.
//   Why 12:8 anyway: MOV DR can name R16..R31 (REX2 map 1, 0F 21/23; REX2.B4 extends
//   ModRM.rm, which holds the GPR). The SDM table for MOV DR says bits 63:12 are "reserved
//   (cleared to 0)", so on hardware that does not extend the field, bit 12 reads 0 and both
//   readings agree; on hardware that does, a 4-bit read would silently use R0..R15 in place
//   of R16..R31 (guest state corruption). Reading 12:8 is therefore never worse. Revisit when
//   the APX spec (doc 784266) is available.
struct MovDrQualification {
  uint8_t dr;
  bool from_dr;  // MOV from DR (read); false: MOV to DR
  uint8_t gpr;
};
MovDrQualification decode_mov_dr(uint64_t qualification, ExitInfoForm form);

// ---- I/O instructions (exit 30) --------------------------------------------------------
//   2:0 size (0: 1 byte, 1: 2, 3: 4); 3 direction (1 = IN); 4 string; 5 REP prefix;
//   6 operand encoding (0 = DX, 1 = immediate); 31:16 port number. No register field, so
//   APX changes nothing here; INS/OUTS describe their memory operand in the instruction-
//   information field (InsnInfoKind::ins / outs).
struct IoQualification {
  uint8_t size;  // 1, 2 or 4; 0 for the unused encodings 2 and 4..7
  bool in;
  bool string;
  bool rep;
  bool immediate;
  uint16_t port;
};
IoQualification decode_io(uint64_t qualification);

// ---- APIC access (exit 44, SDM Vol 3C 28.2.1 Table 28-6) ------------------------------------
//   11:0 page offset (for linear accesses);  15:12 access type;  16 asynchronous to
//   instruction execution. No register field: APX changes nothing here.
enum class ApicAccessType : uint8_t {
  linear_read = 0,            // data read during instruction execution
  linear_write = 1,           // data write during instruction execution
  linear_fetch = 2,           // instruction fetch
  linear_event_delivery = 3,  // during event delivery (IDT, stack)
  physical_event_delivery = 10,
  physical_fetch_or_execution = 15,
  other,  // reserved encodings
};
struct ApicAccessQualification {
  unsigned offset;
  ApicAccessType type;
};
ApicAccessQualification decode_apic_access(uint64_t qualification);
const char* apic_access_type_name(ApicAccessType t);

// ---- EPT violations (exit 48, SDM Vol 3C 28.2.1 Table 28-7) ----------------------------------
namespace ept_violation_qual {
inline constexpr uint64_t access_read = 1u << 0, access_write = 1u << 1, access_fetch = 1u << 2;  // the access
inline constexpr uint64_t allowed_read = 1u << 3, allowed_write = 1u << 4, allowed_execute = 1u << 5;  // the EPT's
inline constexpr uint64_t linear_valid = 1u << 7;  // the guest-linear-address field is valid
inline constexpr uint64_t translated = 1u << 8;    // with linear_valid: the access was to the translated
                                                   // address, not to a paging-structure entry
// NMI unblocking due to IRET (28.2.1): the access was part of an IRET that unblocked NMIs
// (virtual-NMI blocking with "virtual NMIs"); undefined with IDT-vectoring information valid,
// and with "NMI exiting" but not "virtual NMIs". The same bit in the qualification of
// page-modification-log-full and SPP-related exits, and in the VM-exit interruption
// information of an exception exit (28.2.2).
inline constexpr uint64_t nmi_unblocking_iret = 1u << 12;
}  // namespace ept_violation_qual

}  // namespace vmx
