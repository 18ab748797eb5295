// A full VMCS dump for the "stop the guest with a full diagnostic" path (design.md, "The path
// of one boot" step 4): one line per field of vmcs_fields.def, in table order:
//   guest_rip (0x681e) = 0x00000000fffffff0
// Output goes through a caller-provided sink, so the same routine feeds the serial port, the
// in-memory log ring and the tests.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmx/gpr_file.hpp"
#include "vmx/vmcs_access.hpp"
#include "vmx/vmcs_field.hpp"

namespace vmx {

// Receives one NUL-terminated line, without a line terminator.
using DumpSink = void (*)(void* ctx, const char* line);
// Says whether this CPU has a field (see vmcs_field_supported() in capabilities.hpp).
using FieldFilter = bool (*)(const void* ctx, VmcsField f);

struct DumpOptions {
  FieldFilter supported = nullptr;  // nullptr: every field of the table is tried
  const void* supported_ctx = nullptr;
  // A field whose VMREAD fails is printed as "name (0xenc) = <vmread failed>" unless this is
  // set, in which case it is left out.
  bool skip_unreadable = false;
};

// Longest line dump_vmcs() produces, including the NUL.
inline constexpr size_t kDumpLineMax = 96;

// Formats one line into `buf` (kDumpLineMax bytes). The value is printed with as many hex
// digits as the field's width: 4, 8 or 16. Exposed for the tests and for single-field logs.
void format_vmcs_line(char* buf, VmcsField f, uint64_t value);

// Dumps every field; returns the number of lines written.
size_t dump_vmcs(VmcsAccess& vmcs, DumpSink sink, void* sink_ctx, const DumpOptions& options = {});

// The guest's general-purpose registers for the same stop dump, four a line in table order
// (arch/gpr_table.def), e.g. "rax=0x0000000000000001 rcx=... rdx=... rbx=...". RSP is left
// out: it lives in the VMCS (guest_rsp), and gpr[4] is only the emulator's mirror. R16..R31
// follow only when `egprs` (the guest's XCR0.APX is set, vmm/policy/xcr0_state.hpp): only
// then do they exist for the guest and hold its values (the exit stub saved them). Returns
// the number of lines written.
size_t dump_gprs(const GprFile& regs, bool egprs, DumpSink sink, void* sink_ctx);

}  // namespace vmx
