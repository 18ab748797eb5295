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
//   - Numbers 16.. belong to the EPT write monitor.
#pragma once
#include <stdint.h>

#include "vmm/log/log.hpp"
#include "vmm/policy/cpuid_filter.hpp"
#include "vmx/gpr_file.hpp"

namespace vmm {

struct Vcpu;

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
//   5 log_line      In:  RBX, RCX, RDX = the next 24 bytes of a log line (byte 0 in RBX bits
//                   7:0, byte 8 in RCX, byte 16 in RDX; a NUL byte ends the chunk early),
//                   RSI = 1 on the line's last chunk, else 0.
//                   The line collects in a buffer of kLogLineMax bytes (more is cut) and, on
//                   its last chunk, goes to the UART and the log ring as it is, in one piece
//                   with the hypervisor's own lines. For the guest side of the loader
//                   (boot/loader_handoff.hpp), whose lines would otherwise interleave with
//                   the hypervisor's on the same UART. Guest-triggered, so bounded: after
//                   kLogLinesMax lines every call answers log_suppressed, and one line says
//                   so. (It gives a CPL-0 guest nothing new: it can write the UART itself.)
//                   Errors: bad_argument (RSI > 1), log_suppressed.
//   6 code_checksum Out: RBX = FNV-1a 64 of the hypervisor's code as it is in memory now (the
//                   running image's .text, vmm/code_checksum.hpp), RCX = bytes covered. A
//                   guest compares it with the .text of apexvisor.efi to show that nothing
//                   it did changed the hypervisor's code (tests/guest/attack.cpp).
//   7 xsetbv_verdict Out: the calling CPU's last XSETBV exit as the handler decided it,
//                   before acting (vmm/policy/xsetbv.hpp): RBX = verdict, the row number in
//                   APEX_XSETBV_VERDICTS (0 ok, 3 gp_index_not_zero, ...), RCX = the vector
//                   it gives (0 none, 6 #UD, 13 #GP(0)), RDX = that XSETBV's ECX, RSI = its
//                   EDX:EAX, RDI = XSETBV exits on this CPU so far (0: none; then RBX..RSI
//                   are 0). A guest tells the validation's verdict from the #GP a value
//                   wrongly accepted would still get from the host's own XSETBV.
//   8 ept_page      In:  RBX = guest-physical address.
//                   Out: the EPT leaf the guest's accesses to that address go through now:
//                   RBX = its memory type (bits 5:3 of the leaf: 0 UC, 1 WC, 4 WT, 5 WP,
//                   6 WB; vmm/ept/memory_type.hpp), RCX = flags: bit 0 mapped (a leaf covers
//                   the address; else the rest is 0: MMIO above RAM not touched yet), 1 read,
//                   2 write, 3 execute, 4 hidden (hypervisor memory, vmm/ept/ept_builder.hpp
//                   hide), 5 ignore-PAT; RDX = the leaf's size (4 KiB, 2 MiB, 1 GiB). The
//                   MTRR checks (tests/guest/mtrr_checks.cpp) see with it the type a guest
//                   MTRR change gave its pages, which no read or write can show.
//                   Errors: bad_argument (RBX at or above 2^MAXPHYADDR), no_ept (no EPT
//                   registered: unit tests).
//   9 msr_verdict   Out: the calling CPU's last MSR exit (RDMSR/WRMSR, any form) as the handler
//                   answered it (vmm/msr_verdict.hpp): RBX = the MSR index, RCX = info: bits 7:0
//                   the msr_policy.def row that decided (1 = the first row; 0: none, passed
//                   through by default), 15:8 its action (0 pass, 1 emulate, 2 gp, 3 discard),
//                   bit 16 a write, bits 25:24 the host's own access (0 not made, 1 completed,
//                   2 #GP), bits 39:32 the vector the guest got (0 none, 13 #GP(0)); RDX = the
//                   host's value (read: what its RDMSR gave, write: what it was asked to
//                   write; 0 without a completed access), RSI = the guest's value (read: the
//                   EDX:EAX it got, 0 with a #GP; write: its EDX:EAX), RDI = MSR exits on this
//                   CPU so far (0: none; then RBX..RSI are 0). A guest compares what it saw
//                   with the host's outcome and with the policy it expects for the MSR.
//  10 single_step   Out: the single-step traps the calling CPU's handlers pended when they
//                   retired an instruction for a guest with RFLAGS.TF set
//                   (vmm/instruction_retire.hpp): RBX = how many so far, RCX = the basic exit
//                   reason of the last, RDX = the guest RIP it was pended for (the next
//                   instruction's), RSI = the VMCS pending debug exceptions field read back
//                   after that (bit 14 BS), RDI = that field as the VM exit saved it, before
//                   the hypervisor pended anything. Bochs delivers the trap at VM entry
//                   whether it was pended or not: the report shows the hypervisor did its part.
//  11 guest_policy  Out: RBX = machine-wide decisions the guest cannot see otherwise: bit 0
//                   descriptor-table exiting (config dt_guard=on and the CPU offers it).
//
// The EPT write monitor (vmm/monitor/write_monitor.hpp). Every call may answer
// monitor_unavailable (no EPT write monitor on this machine: EPT, INVEPT or the
// monitor-trap flag missing).
//  16 monitor_add   In:  RBX = guest-physical address, RCX = size in bytes (> 0).
//                   Watches [RBX, RBX+RCX): the 4 KiB pages it touches become read+execute
//                   only in the EPT; each guest write into the range is logged as events.
//                   Ranges are byte-exact; writes elsewhere in their pages are emulated, not
//                   logged. Effective at once on the calling CPU, on the others from their
//                   next VM exit. Errors: monitor_bad_range (size 0, wraps, not mapped by the
//                   EPT), monitor_not_ram (any byte is MMIO, a hole, reserved memory or
//                   hypervisor memory), monitor_table_full (16 ranges), monitor_overlap (shares
//                   a byte with a watched range), monitor_ept_failed (no EPT table pages left).
//  17 monitor_remove In: RBX, RCX = exactly a watched range. Errors: monitor_no_such_range.
//  18 monitor_read_event
//                   In:  RBX = event sequence number (0 = the first event ever recorded),
//                        RCX = part, 0 to 5.
//                   Out, part 0: RBX = guest-physical address of the first byte written,
//                        RCX = RIP of the writing instruction, RDX = old value, RSI = new
//                        value (size bytes, little-endian, zero-extended), RDI = info.
//                   Out, part 1: RBX = guest-linear address of the first byte (0: unknown),
//                        RCX = the sequence number, RDX = instruction bytes 0-7, RSI = bytes
//                        8-15 (byte 0 in bits 7:0; zero past the length), RDI = info.
//                   Out, parts 2-5: RBX, RCX, RDX, RSI = R16..R19 (part 2), R20..R23 (3),
//                        R24..R27 (4), R28..R31 (5) of the writing CPU's guest as the
//                        recording exit found them (emulated: before the instruction;
//                        fallback: after the step), RDI = info; zero unless info bit 24.
//                   info: bits 7:0 size in bytes (1..8), 15:8 instruction length (0: could
//                        not be fetched), 23:16 kind (0 emulated; 1 fallback: the instruction
//                        was single-stepped under MTF, old bytes from a snapshot, new bytes
//                        read after it), 24 R16..R31 kept (the guest had XCR0.APX set),
//                        31:25 zero, 63:32 CPU index.
//                   A write of more than 8 bytes, or a fallback run of changed bytes longer
//                   than 8, is several events at consecutive addresses.
//                   Errors: monitor_no_event (not recorded yet), monitor_event_lost
//                   (overwritten: the ring keeps the newest 256), bad_argument (RCX > 5).
//  19 monitor_stats Out: RBX = events recorded (= the next sequence number), RCX = events
//                   dropped (overwritten in the ring, or fallback writes not recorded),
//                   RDX = instructions single-stepped (MTF fallbacks), RSI = write exits
//                   resolved by emulation, RDI = ranges watched (bits 15:0), range capacity
//                   (31:16), ring capacity (47:32).
#define APEX_HYPERCALLS(X)                                  \
  X(0, version, "interface version and signature")          \
  X(1, exit_counter, "exit counters of one CPU")            \
  X(2, read_log, "read the hypervisor's log ring")          \
  X(3, cpu_count, "number of virtualized CPUs")            \
  X(4, ap_start_mode, "how guest APs are started")          \
  X(5, log_line, "print a line from the guest's loader")   \
  X(6, code_checksum, "checksum of the hypervisor's code")  \
  X(7, xsetbv_verdict, "the last XSETBV's validation verdict") \
  X(8, ept_page, "the EPT leaf of a guest-physical address") \
  X(9, msr_verdict, "the last MSR exit's answer")           \
  X(10, single_step, "single-step traps pended")            \
  X(11, guest_policy, "machine-wide guest policy bits")     \
  X(16, monitor_add, "watch a guest-physical range")        \
  X(17, monitor_remove, "stop watching a range")            \
  X(18, monitor_read_event, "read one write event")         \
  X(19, monitor_stats, "EPT write monitor counters")

enum class Hypercall : uint64_t {
#define APEX_X(number, name, text) name = number,
  APEX_HYPERCALLS(APEX_X)
#undef APEX_X
};

enum class HypercallStatus : uint64_t {
  ok = 0,
  unknown_cpu = 1,      // exit_counter: no vCPU registered under that index
  bad_exit_reason = 2,  // exit_counter: exit reason >= vmx::kExitReasonLimit
  // 16-19, the EPT write monitor (monitor::Status, in the same order).
  monitor_unavailable = 3,
  monitor_bad_range = 4,
  monitor_not_ram = 5,
  monitor_table_full = 6,
  monitor_overlap = 7,
  monitor_no_such_range = 8,
  monitor_ept_failed = 9,
  monitor_no_event = 10,
  monitor_event_lost = 11,
  bad_argument = 12,  // an argument outside its documented values
  log_suppressed = 13,  // log_line: the guests' line budget is spent
  no_ept = 14,          // ept_page: no EPT registered (set_hypercall_ept)
};

inline constexpr uint64_t kHypercallInterfaceVersion = policy::kHypervisorInterfaceVersion;
inline constexpr uint64_t kHypercallSignature = 0x78657061;  // "apex", little-endian
inline constexpr uint64_t kHypercallEptMonitorFirst = 16;    // 16..: EPT write monitor
inline constexpr unsigned kHypercallLogChunk = 24;           // bytes per read_log / log_line call
inline constexpr unsigned kLogLineMax = Log::kMaxLine;        // log_line: longest line kept (a whole Log line)
inline constexpr unsigned kLogLinesMax = 64;                  // log_line: lines accepted in all

namespace ept {
class EptIdentityMap;
}
// The map ept_page reads (boot/virtualize.cpp, once the EPT is built) and 2^MAXPHYADDR, its
// argument's bound; nullptr (the default): ept_page answers no_ept.
void set_hypercall_ept(const ept::EptIdentityMap* ept, uint64_t phys_limit);

// ept_page's flags (RCX).
namespace ept_page_flag {
inline constexpr uint64_t mapped = 1, read = 2, write = 4, execute = 8, hidden = 16, ignore_pat = 32;
}
// guest_policy's bits (RBX).
namespace guest_policy_bit {
inline constexpr uint64_t dt_guard = 1;
}

// "version"; nullptr for a number not in the table.
const char* hypercall_name(uint64_t number);

// Runs hypercall regs.gpr[RAX] on the caller's registers. `wide`: the guest is in 64-bit
// mode (else inputs are truncated to 32 bits). `log` is the ring read_log reads.
// Returns false, changing nothing, when the number is not in the table (the guest gets #UD).
// `caller`: the calling vCPU (null in tests that need none; xsetbv_verdict then answers
// unknown_cpu).
bool run_hypercall(vmx::GprFile& regs, bool wide, const Log& log, const Vcpu* caller = nullptr);

}  // namespace vmm
