#include "vmm/ept/mtrr.hpp"

#include "arch/msr.hpp"

namespace vmm::ept {

namespace {

using arch::Msr;

constexpr uint32_t msr(Msr m) { return static_cast<uint32_t>(m); }

// Table 12-9, in address order.
constexpr Msr kFixedMsrs[kFixedMsrCount] = {
    Msr::IA32_MTRR_FIX64K_00000, Msr::IA32_MTRR_FIX16K_80000, Msr::IA32_MTRR_FIX16K_A0000,
    Msr::IA32_MTRR_FIX4K_C0000,  Msr::IA32_MTRR_FIX4K_C8000,  Msr::IA32_MTRR_FIX4K_D0000,
    Msr::IA32_MTRR_FIX4K_D8000,  Msr::IA32_MTRR_FIX4K_E0000,  Msr::IA32_MTRR_FIX4K_E8000,
    Msr::IA32_MTRR_FIX4K_F0000,  Msr::IA32_MTRR_FIX4K_F8000,
};

constexpr uint64_t kPage = 0x1000;

}  // namespace

int fixed_mtrr_index(uint32_t m) {
  for (unsigned i = 0; i < kFixedMsrCount; ++i)
    if (m == msr(kFixedMsrs[i])) return static_cast<int>(i);
  return -1;
}

bool is_mtrr_msr(uint32_t m) {
  if (m == msr(Msr::IA32_MTRR_DEF_TYPE)) return true;
  if (m >= msr(Msr::IA32_MTRR_PHYSBASE0) && m < msr(Msr::IA32_MTRR_PHYSBASE0) + 2 * kMaxVariableMtrrs) return true;
  return fixed_mtrr_index(m) >= 0;
}

namespace {

// ---- the set of types that apply to an address, as a bit mask ---------------------------------
// Bit t for raw type t < 8; bit 8 for any raw value >= 8. Bits 2, 3, 7 and 8 are reserved types.
using TypeSet = uint16_t;
constexpr TypeSet type_bit(uint8_t raw) { return static_cast<TypeSet>(1u << (raw < 8 ? raw : 8)); }
constexpr TypeSet kUcBit = type_bit(0);
constexpr TypeSet kWtBit = type_bit(4);
constexpr TypeSet kWbBit = type_bit(6);
constexpr TypeSet kReservedBits = type_bit(2) | type_bit(3) | type_bit(7) | type_bit(8);

struct Resolved {
  MemoryType type;
  bool conflict;
  constexpr bool operator==(const Resolved&) const = default;
};

constexpr Resolved resolve_single(uint8_t raw) {
  if (!is_valid_memory_type(raw)) return {MemoryType::uc, true};
  return {static_cast<MemoryType>(raw), false};
}

// 12.11.4.1 rule 2b over the types of all matching variable ranges (set non-empty), or rule 2c.
constexpr Resolved resolve(TypeSet set, uint8_t default_raw) {
  if (set == 0) return resolve_single(default_raw);                    // 2c: no match
  if (set & kReservedBits) return {MemoryType::uc, true};               // cannot be programmed
  if (set & kUcBit) return {MemoryType::uc, false};                     // any UC wins
  if ((set & (set - 1)) == 0) {                                         // one type (maybe many ranges)
    for (uint8_t t = 0; t < 8; ++t)
      if (set == type_bit(t)) return {static_cast<MemoryType>(t), false};
  }
  if (set == (kWtBit | kWbBit)) return {MemoryType::wt, false};         // WT and WB: WT
  return {MemoryType::uc, true};                                        // undefined: choose UC
}

// ---- fixed ranges (12.11.2.2, Table 12-9) ------------------------------------------------------
struct FixedSlot {
  unsigned msr_index;  // into MtrrSnapshot::fixed
  unsigned byte;       // which of its eight types
  uint64_t end;        // first address past the sub-range
};

constexpr FixedSlot fixed_slot(uint64_t a) {  // a < 1 MiB
  if (a < 0x80000) return {0, static_cast<unsigned>(a >> 16), ((a >> 16) + 1) << 16};
  if (a < 0xC0000) {
    const uint64_t off = a - 0x80000;
    return {1 + static_cast<unsigned>(off >> 17), static_cast<unsigned>((off >> 14) & 7),
            0x80000 + (((off >> 14) + 1) << 14)};
  }
  const uint64_t off = a - 0xC0000;
  return {3 + static_cast<unsigned>(off >> 15), static_cast<unsigned>((off >> 12) & 7),
          0xC0000 + (((off >> 12) + 1) << 12)};
}

uint8_t fixed_type_raw(const MtrrSnapshot& m, const FixedSlot& s) {
  return static_cast<uint8_t>(m.fixed[s.msr_index] >> (8 * s.byte));
}

// ---- variable ranges ---------------------------------------------------------------------------
// A pair matches address A when (A & mask) == (base & mask) (12.11.3); over the aligned block
// [x, x + 2^k) the address bits below k take every value, so the block matches fully (mask has no
// bit below k), partly (it has some) or not at all (the bits at and above k differ).
enum class Cover : uint8_t { none, partial, full };

Cover cover(const MtrrSnapshot& m, unsigned n, uint64_t x, unsigned k) {
  const uint64_t mask = m.variable_mask(n);
  const uint64_t low = k >= 64 ? ~0ull : (1ull << k) - 1;
  if (((x & mask) & ~low) != (m.variable_base(n) & ~low)) return Cover::none;
  return (mask & low) == 0 ? Cover::full : Cover::partial;
}

// The running answer of a uniformity scan.
struct Scan {
  bool have = false;
  Resolved first{MemoryType::uc, false};
  bool conflict = false;

  // Adds one uniform piece; false when its type differs from what came before.
  bool add(Resolved r) {
    if (!have) {
      have = true;
      first = r;
    } else if (r.type != first.type) {
      return false;
    }
    conflict = conflict || r.conflict;
    return true;
  }
};

// Scans the aligned block [x, x + 2^k), k >= 12; false as soon as a second type shows up.
bool scan_block(const MtrrSnapshot& m, uint64_t x, unsigned k, Scan& scan) {
  if (!m.enabled()) return scan.add({MemoryType::uc, false});  // rule 1
  const uint64_t size = 1ull << k;
  if (m.fixed_enabled() && x < kFixedRangeEnd) {                // rule 2a
    if (x + size > kFixedRangeEnd)  // an aligned block straddling 1 MiB starts at 0: halve it
      return scan_block(m, x, k - 1, scan) && scan_block(m, x + size / 2, k - 1, scan);
    for (uint64_t a = x; a < x + size;) {
      const FixedSlot s = fixed_slot(a);
      if (!scan.add(resolve_single(fixed_type_raw(m, s)))) return false;
      a = s.end;
    }
    return true;
  }
  TypeSet full = 0, partial = 0;                                // rule 2b
  for (unsigned n = 0; n < m.variable_count; ++n) {
    if (!m.variable_valid(n)) continue;
    switch (cover(m, n, x, k)) {
      case Cover::none: break;
      case Cover::full: full |= type_bit(m.variable_type_raw(n)); break;
      case Cover::partial: partial |= type_bit(m.variable_type_raw(n)); break;
    }
  }
  // Every address of the block sees `full` plus some subset of `partial`. If every such subset
  // resolves alike, the block is uniform; otherwise look closer. Partial cover needs a mask bit
  // below k, and masks have none below 12, so 4 KiB blocks always end here.
  const Resolved r = resolve(full, m.default_type_raw());
  bool alike = true;
  for (TypeSet sub = partial; sub != 0 && alike; sub = static_cast<TypeSet>((sub - 1) & partial))
    alike = resolve(full | sub, m.default_type_raw()) == r;
  if (alike) return scan.add(r);
  return scan_block(m, x, k - 1, scan) && scan_block(m, x + size / 2, k - 1, scan);
}

constexpr unsigned trailing_zeros(uint64_t v) {  // v != 0
  unsigned n = 0;
  while (!(v & 1)) {
    v >>= 1;
    ++n;
  }
  return n;
}

constexpr unsigned floor_log2(uint64_t v) {  // v != 0
  unsigned n = 0;
  while (v >>= 1) ++n;
  return n;
}

}  // namespace

MtrrSnapshot load_mtrrs(MsrRead read, void* ctx, bool mtrr_supported, uint8_t max_phys_bits) {
  MtrrSnapshot m;
  m.max_phys_bits = max_phys_bits ? max_phys_bits : kDefaultMaxPhysBits;
  m.supported = mtrr_supported;
  if (!mtrr_supported) return m;  // 12.11.1: the MTRR MSRs exist only with CPUID.1:EDX.MTRR
  m.cap = read(ctx, msr(Msr::IA32_MTRRCAP));
  m.def_type = read(ctx, msr(Msr::IA32_MTRR_DEF_TYPE));
  if (m.fixed_supported()) {  // 12.11.1: the fixed-range MSRs exist only with MTRRCAP.FIX
    for (unsigned i = 0; i < kFixedMsrCount; ++i) m.fixed[i] = read(ctx, msr(kFixedMsrs[i]));
  }
  const unsigned vcnt = m.vcnt();
  m.variable_truncated = vcnt > kMaxVariableMtrrs;
  m.variable_count = static_cast<uint8_t>(m.variable_truncated ? kMaxVariableMtrrs : vcnt);
  for (unsigned n = 0; n < m.variable_count; ++n) {
    m.variable[n].base = read(ctx, msr(Msr::IA32_MTRR_PHYSBASE0) + 2 * n);
    m.variable[n].mask = read(ctx, msr(Msr::IA32_MTRR_PHYSMASK0) + 2 * n);
  }
  return m;
}

MemoryType memory_type(const MtrrSnapshot& m, uint64_t phys, bool* conflict) {
  Resolved r{MemoryType::uc, false};  // rule 1: E = 0
  if (m.enabled()) {
    if (m.fixed_enabled() && phys < kFixedRangeEnd) {  // rule 2a
      r = resolve_single(fixed_type_raw(m, fixed_slot(phys)));
    } else {                                            // rules 2b and 2c
      TypeSet set = 0;
      for (unsigned n = 0; n < m.variable_count; ++n) {
        if (m.variable_valid(n) && (phys & m.variable_mask(n)) == m.variable_base(n))
          set |= type_bit(m.variable_type_raw(n));
      }
      r = resolve(set, m.default_type_raw());
    }
  }
  if (conflict) *conflict = r.conflict;
  return r.type;
}

bool range_type(const MtrrSnapshot& m, uint64_t base, uint64_t size, MemoryType* type, bool* conflict) {
  bool first_conflict = false;
  const MemoryType at_base = memory_type(m, base, &first_conflict);
  if (type) *type = at_base;
  if (conflict) *conflict = first_conflict;
  uint64_t start = base & ~(kPage - 1);
  const uint64_t last = size == 0 ? base : base + (size - 1);  // last byte
  if (last < base) return false;                               // wraps
  // Cut [start, last] into maximal aligned power-of-two blocks and scan each.
  Scan scan;
  for (;;) {
    const uint64_t remaining_pages = ((last - start) >> 12) + 1;
    unsigned k = start == 0 ? 63 : trailing_zeros(start);
    const unsigned fit = floor_log2(remaining_pages) + 12;
    if (fit < k) k = fit;
    if (!scan_block(m, start, k, scan)) return false;
    const uint64_t next = start + (1ull << k);
    if (next == 0 || next > last) break;
    start = next;
  }
  if (type) *type = scan.first.type;
  if (conflict) *conflict = scan.conflict;
  return true;
}

}  // namespace vmm::ept
