// Emulating the guest instruction at RIP (design.md step 5): for EPT violations that the
// hypervisor resolves itself — writes to the write-protected local-APIC page (P6), writes
// into pages the EPT write monitor watches (P4), writes into hypervisor memory (P8) — without
// single-stepping the guest.
#pragma once
#include "vmm/exit_context.hpp"
#include "decode/emulate/emulate.hpp"
#include "vmm/guest_memory/guest_linear_memory.hpp"

namespace vmm {

// Decodes the instruction at the guest's CS:RIP through its paging and emulates it against
// `phys`, writing RIP/RFLAGS/RSP back. Every caller in the image passes GuestPolicy::guest_ram,
// the one routed view (vmm/guest_memory/guest_phys_view.hpp), so each page the instruction
// touches gets the EPT's answer whatever exit started the emulation; `observer` (null there)
// is for tests that watch the writes.
// Faults become the guest's exception (#GP, #UD, #PF — whose CR2 the vCPU then carries
// to the next VM entry, pending::cr2 in vcpu.pending);
// `*unsupported` is set (and resume returned) when the emulator cannot do this instruction,
// so the caller can fall back.
// `length`, when given, receives the instruction's length once it was fetched and decoded
// (0 when it could not be), for a caller that skips what the emulator cannot do.
// `evex`, when given, says whether that instruction is EVEX-encoded (classic AVX-512 or APX):
// the emulator does none (decode/emulate/emulate.hpp), and a caller whose access needs
// emulation decides with unemulated_evex_answer() below.
ExitAction emulate_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, guest_memory::WriteObserver* observer,
                          bool* unsupported, unsigned* length = nullptr, bool* evex = nullptr);

// EVEX, the one rule (issue P11; spec.md §2 "What a VMX emulator must do with EVEX"): KVM's
// emulator implements no EVEX instruction (opcode 62 in 64-bit mode is NotImpl, "KVM: x86:
// Enable APX for guests" v2 12/16), so emulation fails, and handle_emulation_failure() queues
// #UD for the guest. apexvisor gives the same answer where KVM would have to emulate: an
// EVEX access to the local APIC page gets #UD (RIP unchanged, the APIC untouched), never a
// skip or a stop. Where KVM would not emulate at all the guest executes the instruction
// itself: on a watched RAM page the write monitor single-steps it, as KVM unprotects a
// write-tracked RAM page and re-executes when emulation fails
// (kvm_unprotect_and_retry_on_failure), so its write is recorded as a fallback event.
inline ExitAction unemulated_evex_answer() { return ExitAction::ud(); }

// Skips the `length`-byte instruction at RIP without any of its effects and retires it as an
// emulated instruction does: the answer where a write is defined to be dropped (hypervisor
// memory; an access to the APIC page the emulator cannot carry out) and the emulator cannot do
// the instruction. #GP(0) when its length is unknown (it could not even be fetched/decoded).
ExitAction skip_unemulated(ExitContext& ctx, unsigned length);

// How every emulated instruction ends, whoever carried it out (emulate_at_rip() and the
// MOV-store fast path, store32_at_rip.hpp): ok and retry write RIP, RFLAGS and RSP back
// from `emu` (guest_memory::write_back_emu_context) and resume, a completed instruction
// also retiring as an `advance` exit does (STI/MOV-SS blocking ends, RFLAGS.TF pends the
// single-step #DB: vmm/instruction_retire.hpp); a fault becomes the guest's
// exception (with CR2 for #PF); unsupported and bad_gpa set `*unsupported`.
ExitAction finish_emulation(ExitContext& ctx, const decode::emulate::EmuContext& emu, const decode::emulate::Result& r,
                            bool* unsupported);

}  // namespace vmm
