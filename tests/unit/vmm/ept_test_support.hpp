// Fakes for the vmm/ept tests: an MSR file the MTRR snapshot is loaded from (it records every
// read and flags reads of MSRs the CPU would not have), MTRR layouts built by MSR number, and a
// page allocator that hands out heap pages at made-up physical addresses.
#pragma once
#include <stdint.h>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "vmm/ept/mtrr.hpp"
#include "vmm/ept/page_allocator.hpp"

namespace ept_test {

using namespace vmm::ept;

inline constexpr uint8_t UC = 0, WC = 1, WT = 4, WP = 5, WB = 6;

inline constexpr uint32_t kMtrrCap = 0xfe, kDefType = 0x2ff, kPhysBase0 = 0x200, kPhysMask0 = 0x201;
inline constexpr uint32_t kFixedMsrs[11] = {0x250, 0x258, 0x259, 0x268, 0x269, 0x26a,
                                            0x26b, 0x26c, 0x26d, 0x26e, 0x26f};

// Which fixed-range MSR and byte hold the type of address a < 1 MiB (Table 12-9), and the size
// of that sub-range. Written from the table, independently of vmm/ept/mtrr.cpp.
struct FixedPlace {
  uint32_t msr;
  unsigned byte;
  uint64_t size;
};
inline FixedPlace fixed_place(uint64_t a) {
  if (a < 0x80000) return {0x250, static_cast<unsigned>(a / 0x10000), 0x10000};
  if (a < 0xa0000) return {0x258, static_cast<unsigned>((a - 0x80000) / 0x4000), 0x4000};
  if (a < 0xc0000) return {0x259, static_cast<unsigned>((a - 0xa0000) / 0x4000), 0x4000};
  return {0x268 + static_cast<uint32_t>((a - 0xc0000) / 0x8000),
          static_cast<unsigned>(((a - 0xc0000) % 0x8000) / 0x1000), 0x1000};
}

// A CPU's MTRR MSRs. Only MSRs that were set exist; reading another is a #GP on hardware.
struct MsrFile {
  std::map<uint32_t, uint64_t> msrs;
  std::vector<uint32_t> reads;
  std::set<uint32_t> missing_reads;

  static uint64_t read(void* ctx, uint32_t msr) {
    auto* self = static_cast<MsrFile*>(ctx);
    self->reads.push_back(msr);
    auto it = self->msrs.find(msr);
    if (it == self->msrs.end()) {
      self->missing_reads.insert(msr);
      return 0;
    }
    return it->second;
  }
};

// Builds a CPU's MTRR MSRs the way firmware programs them (SDM Vol. 3A 12.11).
struct MtrrLayout {
  MsrFile file;
  uint8_t max_phys_bits = 36;

  // vcnt variable pairs (all invalid), fixed ranges present when `fix`, all fixed types WB.
  explicit MtrrLayout(uint8_t default_type, bool e = true, bool fe = true, unsigned vcnt = 8,
                      bool fix = true, uint8_t maxphys = 36)
      : max_phys_bits(maxphys) {
    file.msrs[kMtrrCap] = vcnt | (fix ? 1ull << 8 : 0) | (1ull << 10);
    file.msrs[kDefType] = default_type | (fe ? 1ull << 10 : 0) | (e ? 1ull << 11 : 0);
    if (fix)
      for (uint32_t m : kFixedMsrs) file.msrs[m] = 0x0606060606060606ull;
    for (unsigned n = 0; n < vcnt; ++n) {
      file.msrs[kPhysBase0 + 2 * n] = 0;
      file.msrs[kPhysMask0 + 2 * n] = 0;
    }
  }
  uint64_t addr_bits() const { return ((1ull << max_phys_bits) - 1) & ~0xfffull; }
  // Variable pair n over [base, base + size), size a power of two and base aligned to it.
  MtrrLayout& var(unsigned n, uint64_t base, uint64_t size, uint8_t type) {
    return var_raw(n, base | type, (~(size - 1) & addr_bits()) | (1ull << 11));
  }
  MtrrLayout& var_raw(unsigned n, uint64_t physbase, uint64_t physmask) {
    file.msrs[kPhysBase0 + 2 * n] = physbase;
    file.msrs[kPhysMask0 + 2 * n] = physmask;
    return *this;
  }
  // Sets the type of fixed sub-ranges in [start, end) (both multiples of the sub-range sizes),
  // written as a table from Table 12-9 rather than by the code under test.
  MtrrLayout& fixed(uint64_t start, uint64_t end, uint8_t type) {
    for (uint64_t a = start; a < end;) {
      const FixedPlace f = fixed_place(a);
      uint64_t& v = file.msrs[f.msr];
      v = (v & ~(0xffull << (8 * f.byte))) | (static_cast<uint64_t>(type) << (8 * f.byte));
      a += f.size;
    }
    return *this;
  }
  MtrrSnapshot snapshot() { return load_mtrrs(&MsrFile::read, &file, true, max_phys_bits); }
};

// The memory type of one address, straight from the MSR values and the list of rules in SDM
// Vol. 3A 12.11.4.1 (an oracle independent of vmm/ept/mtrr.cpp). conflict: undefined overlap
// or a reserved type, resolved to UC.
struct RefType {
  uint8_t type;
  bool conflict;
};
inline RefType reference_type(const MtrrLayout& l, uint64_t a) {
  const auto& m = l.file.msrs;
  auto valid = [](uint64_t t) { return t == UC || t == WC || t == WT || t == WP || t == WB; };
  auto single = [&](uint64_t t) { return valid(t) ? RefType{static_cast<uint8_t>(t), false} : RefType{UC, true}; };
  const uint64_t def = m.at(kDefType), cap = m.at(kMtrrCap);
  if (!(def & (1ull << 11))) return {UC, false};                           // 1: E clear
  if ((cap & (1ull << 8)) && (def & (1ull << 10)) && a < 0x100000) {      // 2a: fixed
    const FixedPlace f = fixed_place(a);
    return single((m.at(f.msr) >> (8 * f.byte)) & 0xff);
  }
  std::vector<uint64_t> types;                                             // 2b: variable
  for (unsigned n = 0; n < (cap & 0xff); ++n) {
    const uint64_t base = m.at(kPhysBase0 + 2 * n), mask = m.at(kPhysMask0 + 2 * n);
    if (!(mask & (1ull << 11))) continue;
    const uint64_t mk = mask & l.addr_bits();
    if ((a & mk) == (base & mk)) types.push_back(base & 0xff);
  }
  if (types.empty()) return single(def & 0xff);                            // 2c: default
  for (uint64_t t : types)
    if (!valid(t)) return {UC, true};
  bool identical = true, any_uc = false, only_wt_wb = true;
  for (uint64_t t : types) {
    identical = identical && t == types[0];
    any_uc = any_uc || t == UC;
    only_wt_wb = only_wt_wb && (t == WT || t == WB);
  }
  if (identical) return {static_cast<uint8_t>(types[0]), false};
  if (any_uc) return {UC, false};
  if (only_wt_wb) return {WT, false};
  return {UC, true};  // undefined overlap
}

// Heap pages at fake physical addresses from 0x5a5a00000000 upwards, so that a walk which
// forgot virt_of would dereference garbage (and ASan or the checks would notice).
class FakePageAllocator final : public PageAllocator {
 public:
  static constexpr uint64_t kPhysBase = 0x5a5a00000000ull;
  explicit FakePageAllocator(size_t limit = SIZE_MAX) : limit_(limit) {}

  void* alloc_zeroed_page() override {
    if (pages_.size() >= limit_) return nullptr;
    pages_.push_back(std::make_unique<Page>());
    Page* p = pages_.back().get();
    const uint64_t phys = kPhysBase + (pages_.size() - 1) * 0x1000;
    by_phys_[phys] = p;
    by_ptr_[p] = phys;
    return p;
  }
  uint64_t phys_of(void* page) override { return by_ptr_.at(static_cast<Page*>(page)); }
  void* virt_of(uint64_t phys) override { return by_phys_.at(phys); }
  size_t allocated() const { return pages_.size(); }
  const uint64_t* table(uint64_t phys) const { return by_phys_.at(phys)->e; }

 private:
  struct alignas(4096) Page {
    uint64_t e[512] = {};
  };
  size_t limit_;
  std::vector<std::unique_ptr<Page>> pages_;
  std::map<uint64_t, Page*> by_phys_;
  std::map<Page*, uint64_t> by_ptr_;
};

}  // namespace ept_test
