// The MTRR model: a snapshot of the memory-type range registers of one CPU and the memory type
// they give a physical address (SDM Vol. 3A 12.11). EPT bypasses the MTRRs for guest accesses,
// so the EPT leaf types must be computed from them (design.md invariant and pitfalls: fixed
// ranges, variable ranges and the default type). After boot the snapshot that counts is the
// guest's virtual MTRRs (virtual_mtrrs.hpp); the hardware's are read once, at boot.
#pragma once
#include <stdint.h>

#include "vmm/ept/memory_type.hpp"

namespace vmm::ept {

// Reads one MSR; the same shape as vmx::MsrRead, so the launch code passes one function to both.
using MsrRead = uint64_t (*)(void* ctx, uint32_t msr);

// ---- register layouts (SDM Vol. 3A 12.11.1 - 12.11.3) -----------------------------------------
namespace mtrrcap {  // IA32_MTRRCAP (0xFE), Figure 12-5
inline constexpr uint64_t kVcntMask = 0xff;        // bits 7:0: number of variable ranges
inline constexpr uint64_t kFix = 1ull << 8;        // fixed-range MTRRs supported
inline constexpr uint64_t kWc = 1ull << 10;        // WC type supported
inline constexpr uint64_t kSmrr = 1ull << 11;      // SMRR interface supported
}  // namespace mtrrcap
namespace def_type {  // IA32_MTRR_DEF_TYPE (0x2FF), Figure 12-6
inline constexpr uint64_t kTypeMask = 0xff;        // bits 7:0: default memory type
inline constexpr uint64_t kFixedEnable = 1ull << 10;  // FE
inline constexpr uint64_t kEnable = 1ull << 11;       // E
}  // namespace def_type
namespace physmask {  // IA32_MTRR_PHYSMASKn, Figure 12-7
inline constexpr uint64_t kValid = 1ull << 11;
}  // namespace physmask

// The fixed ranges cover the first 1 MiB (12.11.2.2, Table 12-9): 8 x 64 KiB, 16 x 16 KiB and
// 64 x 4 KiB, eight one-byte types per MSR, byte 0 for the lowest addresses.
inline constexpr unsigned kFixedMsrCount = 11;
inline constexpr uint64_t kFixedRangeEnd = 0x100000;
// The variable pairs live at 0x200 + 2n / 0x201 + 2n, below IA32_MTRR_FIX64K_00000 (0x250), so a
// CPU with this MSR layout has at most 40 of them; more are read as "truncated".
inline constexpr unsigned kMaxVariableMtrrs = 40;
// MAXPHYADDR when CPUID.80000008H is absent (SDM Vol. 3A 12.11.3, "MAXPHYADDR ... 36").
inline constexpr uint8_t kDefaultMaxPhysBits = 36;

struct VariableMtrr {
  uint64_t base;  // IA32_MTRR_PHYSBASEn: type in 7:0, base in MAXPHYADDR-1:12
  uint64_t mask;  // IA32_MTRR_PHYSMASKn: valid in 11, mask in MAXPHYADDR-1:12
};

struct MtrrSnapshot {
  bool supported = false;  // CPUID.1:EDX.MTRR[12]; without it nothing else was read
  uint64_t cap = 0;        // IA32_MTRRCAP
  uint64_t def_type = 0;   // IA32_MTRR_DEF_TYPE
  uint64_t fixed[kFixedMsrCount] = {};  // in address order: 0x250, 0x258, 0x259, 0x268..0x26F
  VariableMtrr variable[kMaxVariableMtrrs] = {};
  uint8_t variable_count = 0;        // pairs read: min(VCNT, kMaxVariableMtrrs)
  bool variable_truncated = false;   // VCNT > kMaxVariableMtrrs (never on a real CPU)
  uint8_t max_phys_bits = kDefaultMaxPhysBits;  // MAXPHYADDR, CPUID.80000008H:EAX[7:0]

  constexpr unsigned vcnt() const { return static_cast<unsigned>(cap & mtrrcap::kVcntMask); }
  constexpr bool fixed_supported() const { return cap & mtrrcap::kFix; }
  // E: when clear, all of physical memory is UC (12.11.2.1).
  constexpr bool enabled() const { return supported && (def_type & def_type::kEnable); }
  // FE only has an effect while E is set (12.11.2.1).
  constexpr bool fixed_enabled() const {
    return enabled() && fixed_supported() && (def_type & def_type::kFixedEnable);
  }
  constexpr uint8_t default_type_raw() const { return static_cast<uint8_t>(def_type & def_type::kTypeMask); }
  // Bits MAXPHYADDR-1:12: the address bits PHYSBASE/PHYSMASK hold.
  constexpr uint64_t address_bits() const {
    const unsigned bits = max_phys_bits > 63 ? 63 : max_phys_bits;
    return ((1ull << bits) - 1) & ~0xfffull;
  }
  constexpr bool variable_valid(unsigned n) const { return variable[n].mask & physmask::kValid; }
  constexpr uint8_t variable_type_raw(unsigned n) const { return static_cast<uint8_t>(variable[n].base & 0xff); }
  constexpr uint64_t variable_mask(unsigned n) const { return variable[n].mask & address_bits(); }
  constexpr uint64_t variable_base(unsigned n) const { return variable[n].base & variable_mask(n); }
  // The range of pair n when its mask is contiguous (the form 12.11.3 describes): [base, base+size).
  constexpr bool variable_contiguous(unsigned n) const {
    const uint64_t inverted = ~variable_mask(n) & address_bits();  // the low bits of the mask that are 0
    return (inverted & (inverted + 0x1000)) == 0;
  }
  constexpr uint64_t variable_size(unsigned n) const {
    return (~variable_mask(n) & address_bits()) + 0x1000;
  }
};

// Whether `msr` is one of the MTRRs that set memory types: IA32_MTRR_DEF_TYPE, a fixed-range MTRR
// or a variable pair's PHYSBASE/PHYSMASK (whether or not this CPU has that many pairs).
bool is_mtrr_msr(uint32_t msr);
// The position of a fixed-range MTRR in MtrrSnapshot::fixed (Table 12-9 order), or -1.
int fixed_mtrr_index(uint32_t msr);

// Reads the MTRRs of this CPU through `read`, touching only MSRs that exist (RDMSR of a missing
// one raises #GP): nothing without CPUID.1:EDX.MTRR, the fixed ranges only with MTRRCAP.FIX, and
// min(VCNT, kMaxVariableMtrrs) variable pairs. max_phys_bits: CPUID.80000008H:EAX[7:0], or 0
// when that leaf is absent (then 36).
MtrrSnapshot load_mtrrs(MsrRead read, void* ctx, bool mtrr_supported, uint8_t max_phys_bits);

// ---- the type of memory (SDM Vol. 3A 12.11.4.1 "MTRR Precedences") ------------------------------
// 1. E = 0: UC. 2a. below 1 MiB with FE = 1: the fixed range. 2b. variable ranges: one match,
// its type; several: identical types that type, any UC then UC, only WT and WB then WT; other
// overlaps are undefined. 2c. nothing matches: the default type.
// Undefined overlaps and reserved type encodings resolve to UC and set *conflict, so the caller
// can log them. `conflict` may be null.
MemoryType memory_type(const MtrrSnapshot& m, uint64_t phys, bool* conflict = nullptr);

// Whether every byte of [base, base + size) has the same type. *type receives that type, or the
// type at `base` when it returns false; *conflict (may be null) tells whether the type came from
// an undefined overlap (meaningful when it returns true). The MTRR granularity is 4 KiB, so base
// is rounded down and the end up to 4 KiB. Work grows with the number of variable ranges and the
// number of their boundaries inside the range, not with its size. size 0 is the page at base.
// A range that wraps past 2^64 is refused (false, type at base).
bool range_type(const MtrrSnapshot& m, uint64_t base, uint64_t size, MemoryType* type,
                bool* conflict = nullptr);

}  // namespace vmm::ept
