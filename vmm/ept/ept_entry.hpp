// EPT paging-structure entries and the EPT pointer (SDM Vol. 3C 29.3.2 "EPT Translation
// Mechanism", Tables 29-1 to 29-6; 25.6.11 "Extended-Page-Table Pointer (EPTP)").
// 4-level EPT: PML4 (level 4) -> PDPT (3) -> PD (2) -> PT (1); each table is one 4 KiB page of
// 512 eight-byte entries, indexed by 9 bits of the guest-physical address. A 5-level walk
// (IA32_VMX_EPT_VPID_CAP[7], EPTP bits 5:3 = 4) puts a PML5 (level 5, bits 56:48) on top.
#pragma once
#include <stdint.h>

#include "vmm/ept/memory_type.hpp"

namespace vmm::ept {

inline constexpr unsigned kEntriesPerTable = 512;
inline constexpr uint64_t kPageSize = 0x1000;
inline constexpr unsigned kLevels4 = 4;  // page-walk length 4: guest-physical bits 47:0
inline constexpr unsigned kLevels5 = 5;  // page-walk length 5: bits 56:0 (29.3.2)

// The guest-physical addresses a walk of `levels` translates: [0, 2^48) or [0, 2^57).
constexpr uint64_t walk_reach(unsigned levels) { return 1ull << (12 + 9 * levels); }
inline constexpr uint64_t kGuestPhysLimit = walk_reach(kLevels4);

// Bytes one entry maps at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB, 4: 512 GiB, 5: 256 TiB).
constexpr uint64_t level_span(unsigned level) { return 1ull << (12 + 9 * (level - 1)); }
// The entry of `gpa` in a table at `level` (29.3.2: bits 56:48, 47:39, 38:30, 29:21, 20:12).
constexpr unsigned level_index(uint64_t gpa, unsigned level) {
  return static_cast<unsigned>(gpa >> (12 + 9 * (level - 1))) & (kEntriesPerTable - 1);
}

namespace ept_bits {
inline constexpr uint64_t kRead = 1ull << 0;
inline constexpr uint64_t kWrite = 1ull << 1;
inline constexpr uint64_t kExecute = 1ull << 2;  // supervisor-mode execute when MBEC is on
inline constexpr uint64_t kAccessMask = kRead | kWrite | kExecute;
inline constexpr unsigned kMemoryTypeShift = 3;  // leaf only, bits 5:3 (29.3.7)
inline constexpr uint64_t kMemoryTypeMask = 7ull << kMemoryTypeShift;
inline constexpr uint64_t kIgnorePat = 1ull << 6;   // leaf only
inline constexpr uint64_t kLargePage = 1ull << 7;   // PDPTE: 1 GiB page; PDE: 2 MiB page
inline constexpr uint64_t kAccessed = 1ull << 8;    // with EPTP[6]
inline constexpr uint64_t kDirty = 1ull << 9;       // leaf, with EPTP[6]
// Bit 11 is ignored by the processor in every EPT entry (Tables 29-1 to 29-6); apexvisor marks
// the entries of hypervisor-owned pages with it so that no later change makes them reachable.
inline constexpr uint64_t kSwHidden = 1ull << 11;
inline constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;  // bits 51:12
inline constexpr uint64_t kSuppressVe = 1ull << 63;
}  // namespace ept_bits

// One entry, as the processor reads it. A zero entry maps nothing.
struct EptEntry {
  uint64_t raw = 0;

  // 29.3.2: an entry is present when any of bits 2:0 is set (without mode-based execute control).
  constexpr bool present() const { return raw & ept_bits::kAccessMask; }
  constexpr bool readable() const { return raw & ept_bits::kRead; }
  constexpr bool writable() const { return raw & ept_bits::kWrite; }
  constexpr bool executable() const { return raw & ept_bits::kExecute; }
  constexpr bool hidden() const { return raw & ept_bits::kSwHidden; }
  constexpr bool ignore_pat() const { return raw & ept_bits::kIgnorePat; }
  constexpr uint8_t memory_type_raw() const {
    return static_cast<uint8_t>((raw & ept_bits::kMemoryTypeMask) >> ept_bits::kMemoryTypeShift);
  }
  constexpr MemoryType memory_type() const { return static_cast<MemoryType>(memory_type_raw()); }
  // Whether this entry maps a page (rather than referencing the next table) at `level`.
  constexpr bool is_leaf(unsigned level) const {
    return level == 1 || ((level == 2 || level == 3) && (raw & ept_bits::kLargePage));
  }
  // The physical address this entry holds: a table, or a page aligned to level_span(level).
  constexpr uint64_t table_address() const { return raw & ept_bits::kAddressMask; }
  constexpr uint64_t page_address(unsigned level) const {
    return raw & ept_bits::kAddressMask & ~(level_span(level) - 1);
  }

  // A non-leaf entry: all access rights, so the leaf alone decides (rights are ANDed, 29.3.3).
  static constexpr EptEntry table(uint64_t table_phys) {
    return {(table_phys & ept_bits::kAddressMask) | ept_bits::kAccessMask};
  }
  // A leaf at `level` (1, 2 or 3) mapping page_phys with `type`; the guest PAT still combines
  // with it (ignore-PAT clear), as it does with the MTRRs natively (29.3.7.2).
  static constexpr EptEntry leaf(uint64_t page_phys, unsigned level, MemoryType type, uint64_t access) {
    return {(page_phys & ept_bits::kAddressMask & ~(level_span(level) - 1)) |
            (static_cast<uint64_t>(type) << ept_bits::kMemoryTypeShift) |
            (access & ept_bits::kAccessMask) | (level > 1 ? ept_bits::kLargePage : 0)};
  }
  constexpr EptEntry with_access(uint64_t access) const {
    return {(raw & ~ept_bits::kAccessMask) | (access & ept_bits::kAccessMask)};
  }
};
static_assert(sizeof(EptEntry) == 8);

// Access rights as the R/W/X bits of an entry.
constexpr uint64_t ept_access(bool r, bool w, bool x) {
  return (r ? ept_bits::kRead : 0) | (w ? ept_bits::kWrite : 0) | (x ? ept_bits::kExecute : 0);
}

// The EPT pointer, VMCS field 0x201A (25.6.11): paging-structure memory type in 2:0 (0 UC,
// 6 WB), page-walk length minus one in 5:3, accessed/dirty flags enable in 6, PML4 address in
// bits 51:12 (bits 11:7 here stay 0: no supervisor shadow-stack control). With a 5-level walk
// the address is the PML5's.
struct Eptp {
  uint64_t raw = 0;

  static constexpr Eptp make(uint64_t pml4_phys, bool accessed_dirty, MemoryType type = MemoryType::wb,
                             unsigned levels = kLevels4) {
    return {(pml4_phys & ept_bits::kAddressMask) | static_cast<uint64_t>(type) |
            (static_cast<uint64_t>(levels - 1) << 3) | (accessed_dirty ? 1ull << 6 : 0)};
  }
  constexpr MemoryType memory_type() const { return static_cast<MemoryType>(raw & 7); }
  constexpr unsigned walk_length() const { return static_cast<unsigned>((raw >> 3) & 7) + 1; }
  constexpr bool accessed_dirty() const { return raw & (1ull << 6); }
  constexpr uint64_t pml4() const { return raw & ept_bits::kAddressMask; }
};

}  // namespace vmm::ept
