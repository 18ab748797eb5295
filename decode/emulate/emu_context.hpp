// Everything emulate() reads and changes besides guest memory: the register file, RFLAGS,
// RIP, the mode and the segment registers. The caller fills it from the VMCS at the exit and
// writes RIP, RFLAGS and RSP back after an `ok` (vmm/guest_memory/emu_state.hpp does both).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "decode/emulate/linear_memory.hpp"
#include "decode/instruction.hpp"

namespace decode::emulate {

// Segment registers in the Sreg encoding (SDM Vol 2A 3.1.1.3 Table 3-6), which is also the
// decoder's RegClass::seg numbering and the VMCS guest-segment order.
enum class Sreg : uint8_t { es = 0, cs = 1, ss = 2, ds = 3, fs = 4, gs = 5 };
inline constexpr unsigned kSregCount = 6;

// The hidden part of a segment register as the VMCS holds it (SDM Vol 3C 25.4.1): the base,
// the byte-granular limit (G already applied) and the access rights in the VMX layout
// (Table 25-2): type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16.
struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0xFFFFFFFFu;
  uint32_t access_rights = 0xC093;  // present, writable data, D/B=1, G=1

  static constexpr uint32_t kTypeAccessed = 1u << 0;
  static constexpr uint32_t kTypeWritable = 1u << 1;   // data: writable; code: readable
  static constexpr uint32_t kTypeExpandDown = 1u << 2; // data only (code: conforming)
  static constexpr uint32_t kTypeCode = 1u << 3;
  static constexpr uint32_t kDefaultBig = 1u << 14;    // D/B
  static constexpr uint32_t kUnusable = 1u << 16;

  constexpr bool unusable() const { return (access_rights & kUnusable) != 0; }
  constexpr bool code() const { return (access_rights & kTypeCode) != 0; }
  constexpr bool readable() const { return !code() || (access_rights & kTypeWritable) != 0; }
  constexpr bool writable() const { return !code() && (access_rights & kTypeWritable) != 0; }
  constexpr bool expand_down() const { return !code() && (access_rights & kTypeExpandDown) != 0; }
  constexpr bool big() const { return (access_rights & kDefaultBig) != 0; }
};

struct EmuContext {
  // gpr[0..31], indexed by architectural register number (vmx::GprFile::gpr, design.md "The
  // vCPU register file"). RSP is gpr[4]: the caller copies GUEST_RSP in and back out.
  uint64_t* gpr = nullptr;
  uint64_t rflags = 2;
  uint64_t rip = 0;  // of the instruction being emulated; advanced by its length on success

  CpuMode mode = CpuMode::bits64;  // the code size the instruction was decoded with
  bool real_or_v86 = false;        // real-address or virtual-8086 mode: segment limits are
                                   // checked, types are not (SDM Vol 3A 20.1)
  uint8_t cpl = 0;
  bool cr0_am = false;             // CR0.AM: with RFLAGS.AC and CPL 3, misaligned data → #AC(0)
  bool la57 = false;               // CR4.LA57: linear addresses are 57-bit canonical, else 48

  Segment seg[kSregCount];         // 64-bit mode uses only FS.base and GS.base (Vol 1 3.3.7.1)
  LinearMemory* mem = nullptr;

  // REP string instructions run at most this many iterations per emulate() call; then RIP
  // stays on the instruction with RCX/RSI/RDI updated, the guest re-executes it and continues
  // (the architectural interruptible-REP behaviour, SDM Vol 1 7.3.9.3 / Vol 2B REP). 0: no bound.
  uint32_t rep_budget = 1024;

  const Segment& segment(Sreg s) const { return seg[static_cast<unsigned>(s)]; }
};

}  // namespace decode::emulate
