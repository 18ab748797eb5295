// apexvisor's hypercall interface: what a guest gets from VMCALL (exit reason 18,
// vmm/handlers/vmcall.cpp). The one table of hypercalls is APEX_HYPERCALLS below.
//
// ABI (version kHypercallInterfaceVersion, also CPUID.40000001h:EAX):
//   - VMCALL at CPL 0 only. At CPL > 0, and for a number not in the table, the guest gets
//     #UD (what VMCALL raises outside VMX non-root), RIP stays on the VMCALL and no register
//     changes.
//   - In:  RAX = hypercall number; arguments in RBX, RCX.
//   - Out: RAX = status (HypercallStatus: 0 ok, else an error); results in RBX, RCX, RDX,
//     RSI, RDI as listed per hypercall. Every register a hypercall does not list as a result
//     is preserved; on an error status no result register is written.
//   - Outside 64-bit mode the inputs are taken as 32 bits (EAX, EBX, ECX); results are
//     written as 64-bit values, of which such a caller sees the low halves.
//   - Numbers 16.. are reserved for the EPT write monitor.
#pragma once
#include <stdint.h>

#include "vmm/log/log.hpp"
#include "vmm/policy/cpuid_filter.hpp"
#include "vmx/gpr_file.hpp"

namespace vmm {

// The hypercalls, one row each: X(number, name, description).
//   0 version       Out: RBX = interface version (1), RCX = 0x78657061 ("apex" as 4
//                   little-endian bytes).
//   1 exit_counter  In:  RBX = CPU index, RCX = basic exit reason (0..kExitReasonLimit-1).
//                   Out: RBX = exits with that reason on that CPU, RCX = all exits on that CPU
//                   (both include the VMCALL that asks, when a CPU asks about itself).
//                   Errors: unknown_cpu (no vCPU registered under RBX), bad_exit_reason.
//   2 read_log      In:  RBX = byte offset into the retained log ring (0 = oldest byte kept).
//                   Out: RCX = bytes returned, 0..24 (0: the offset is at or past the end);
//                   RDX, RSI, RDI = the bytes, little-endian: byte 0 in RDX bits 7:0, byte 8
//                   in RSI bits 7:0, byte 16 in RDI bits 7:0; unused bytes are zero. The ring
//                   keeps the last 64 KiB; once it wraps, offset 0 moves with it.
//   3 cpu_count     Out: RBX = number of registered vCPUs (virtualized CPUs).
//   4 ap_start_mode Out: RBX = how guest APs are started: 0 native INIT/SIPI exits,
//                   1 intercepted ICR writes (config init_sipi=, vmm/apic/ap_start_mode.hpp).
#define APEX_HYPERCALLS(X)                                  \
  X(0, version, "interface version and signature")          \
  X(1, exit_counter, "exit counters of one CPU")            \
  X(2, read_log, "read the hypervisor's log ring")          \
  X(3, cpu_count, "number of virtualized CPUs")            \
  X(4, ap_start_mode, "how guest APs are started")

enum class Hypercall : uint64_t {
#define APEX_X(number, name, text) name = number,
  APEX_HYPERCALLS(APEX_X)
#undef APEX_X
};

enum class HypercallStatus : uint64_t {
  ok = 0,
  unknown_cpu = 1,      // exit_counter: no vCPU registered under that index
  bad_exit_reason = 2,  // exit_counter: exit reason >= vmx::kExitReasonLimit
};

inline constexpr uint64_t kHypercallInterfaceVersion = policy::kHypervisorInterfaceVersion;
inline constexpr uint64_t kHypercallSignature = 0x78657061;  // "apex", little-endian
inline constexpr uint64_t kHypercallEptMonitorFirst = 16;    // 16.. reserved: EPT write monitor
inline constexpr unsigned kHypercallLogChunk = 24;           // bytes per read_log call

// "version"; nullptr for a number not in the table.
const char* hypercall_name(uint64_t number);

// Runs hypercall regs.gpr[RAX] on the caller's registers. `wide`: the guest is in 64-bit
// mode (else inputs are truncated to 32 bits). `log` is the ring read_log reads.
// Returns false, changing nothing, when the number is not in the table (the guest gets #UD).
bool run_hypercall(vmx::GprFile& regs, bool wide, const Log& log);

}  // namespace vmm
