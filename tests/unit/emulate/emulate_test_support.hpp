// Fakes for the emulator and page-walk tests: guest-physical memory made of sparse pages (with
// holes that answer bad_gpa), a builder for guest page tables of every paging mode, and a
// runner that decodes bytes, emulates them and reports registers/memory/flags.
#pragma once
#include <stdint.h>
#include <string.h>

#include <map>
#include <string>
#include <vector>

#include "arch/cr_bits.hpp"
#include "decode/decode.hpp"
#include "decode/emulate/emulate.hpp"
#include "vmm/guest_memory/guest_linear_memory.hpp"
#include "vmm/guest_memory/paging.hpp"

namespace emu_test {

using namespace vmm::guest_memory;
namespace emu = decode::emulate;
using Bytes = std::vector<uint8_t>;

// Guest RAM: pages that exist once touched by the test (poke/map_ram); everything else is
// not RAM (bad_gpa), like MMIO.
class FakePhys final : public GuestPhysMemory {
 public:
  void map_ram(uint64_t gpa, uint64_t bytes) {
    for (uint64_t p = gpa & ~0xFFFull; p < gpa + bytes; p += 4096) pages_[p];
  }
  void poke(uint64_t gpa, const void* src, size_t n) {
    map_ram(gpa, n);
    for (size_t i = 0; i < n; ++i) byte(gpa + i) = static_cast<const uint8_t*>(src)[i];
  }
  void poke64(uint64_t gpa, uint64_t v) { poke(gpa, &v, 8); }
  void poke32(uint64_t gpa, uint32_t v) { poke(gpa, &v, 4); }
  uint64_t peek(uint64_t gpa, unsigned n = 8) const {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= static_cast<uint64_t>(cbyte(gpa + i)) << (8 * i);
    return v;
  }
  bool has(uint64_t gpa) const { return pages_.count(gpa & ~0xFFFull) != 0; }
  // A snapshot of all RAM, to check that a faulting instruction wrote nothing.
  std::map<uint64_t, std::vector<uint8_t>> snapshot() const {
    std::map<uint64_t, std::vector<uint8_t>> s;
    for (auto& [p, page] : pages_) s[p] = std::vector<uint8_t>(page.bytes, page.bytes + 4096);
    return s;
  }

  PhysStatus read(uint64_t gpa, void* dst, size_t n) override {
    ++reads;
    if (!range_ok(gpa, n)) return PhysStatus::bad_gpa;
    for (size_t i = 0; i < n; ++i) static_cast<uint8_t*>(dst)[i] = byte(gpa + i);
    return PhysStatus::ok;
  }
  PhysStatus write(uint64_t gpa, const void* src, size_t n) override {
    ++writes;
    if (!range_ok(gpa, n)) return PhysStatus::bad_gpa;
    ++mutations;
    for (size_t i = 0; i < n; ++i) byte(gpa + i) = static_cast<const uint8_t*>(src)[i];
    return PhysStatus::ok;
  }
  PhysStatus cmpxchg(uint64_t gpa, unsigned n, uint64_t expected, uint64_t desired, uint64_t* observed) override {
    ++cmpxchgs;
    if (!range_ok(gpa, n)) return PhysStatus::bad_gpa;
    if (interfere) interfere(*this, gpa);
    const uint64_t cur = peek(gpa, n);
    *observed = cur;
    if (cur == expected) {
      ++mutations;
      for (unsigned i = 0; i < n; ++i) byte(gpa + i) = static_cast<uint8_t>(desired >> (8 * i));
    }
    return PhysStatus::ok;
  }

  const volatile uint8_t* ram_pointer(uint64_t gpa) override {
    auto it = pages_.find(gpa & ~0xFFFull);  // map nodes never move
    return it == pages_.end() ? nullptr : it->second.bytes + (gpa & 0xFFF);
  }

  unsigned reads = 0, writes = 0, cmpxchgs = 0;
  unsigned mutations = 0;  // writes and successful compare-exchanges that reached RAM
  // Simulates another CPU: runs before each cmpxchg.
  void (*interfere)(FakePhys&, uint64_t) = nullptr;

 private:
  struct Page {
    uint8_t bytes[4096] = {};
  };
  bool range_ok(uint64_t gpa, size_t n) const {
    for (uint64_t p = gpa & ~0xFFFull; p < gpa + n; p += 4096)
      if (!pages_.count(p)) return false;
    return true;
  }
  uint8_t& byte(uint64_t a) { return pages_[a & ~0xFFFull].bytes[a & 0xFFF]; }
  uint8_t cbyte(uint64_t a) const {
    auto it = pages_.find(a & ~0xFFFull);
    return it == pages_.end() ? 0 : it->second.bytes[a & 0xFFF];
  }
  std::map<uint64_t, Page> pages_;
};

// Builds guest page tables in a FakePhys. Tables are allocated from `next_table` upwards.
class PageTables {
 public:
  enum class Mode { bits32, pae, level4, level5 };
  PageTables(FakePhys& phys, Mode mode, uint64_t table_area = 0x100000) : phys_(phys), mode_(mode), next_(table_area) {
    root_ = alloc();  // (for PAE the 32-byte PDPT gets a page of its own)
  }
  uint64_t cr3() const { return root_; }

  PagingState state(uint8_t cpl = 0) const {
    PagingState s;
    s.cr0 = arch::cr0::PE | arch::cr0::PG | arch::cr0::WP;
    s.cr3 = root_;
    s.cpl = cpl;
    switch (mode_) {
      case Mode::bits32: s.cr4 = arch::cr4::PSE; break;
      case Mode::pae: s.cr4 = arch::cr4::PAE; s.efer = arch::efer::NXE; break;
      case Mode::level4: s.cr4 = arch::cr4::PAE; s.efer = arch::efer::LME | arch::efer::LMA | arch::efer::NXE; break;
      case Mode::level5:
        s.cr4 = arch::cr4::PAE | arch::cr4::LA57;
        s.efer = arch::efer::LME | arch::efer::LMA | arch::efer::NXE;
        break;
    }
    return s;
  }

  // Maps `linear` → `gpa` with a leaf of `page_size` (4K, 2M/4M, 1G). `leaf_flags` go into the
  // leaf; every non-leaf entry gets `table_flags` (default P|RW|US, so the leaf decides).
  // Returns the GPA of the leaf entry.
  uint64_t map(uint64_t linear, uint64_t gpa, uint64_t leaf_flags, uint64_t page_size = 4096,
               uint64_t table_flags = pte::P | pte::RW | pte::US) {
    if (mode_ == Mode::bits32) return map32(linear, gpa, leaf_flags, page_size, table_flags);
    unsigned level = mode_ == Mode::level5 ? 5 : mode_ == Mode::level4 ? 4 : 3;
    uint64_t table = root_;
    for (;; --level) {
      const unsigned shift = 12 + 9 * (level - 1);
      const unsigned index_bits = (mode_ == Mode::pae && level == 3) ? 2 : 9;
      const uint64_t e_gpa = table + ((linear >> shift) & ((1u << index_bits) - 1)) * 8;
      if ((1ull << shift) == page_size) {
        // (Not masked to the page size: rows put reserved bits there on purpose.)
        uint64_t e = (gpa & 0x000FFFFFFFFFF000ull) | leaf_flags;
        if (page_size > 4096) e |= pte::PS;
        phys_.poke64(e_gpa, e);
        return e_gpa;
      }
      uint64_t e = phys_.peek(e_gpa);
      if (!(e & pte::P)) {
        const uint64_t t = alloc();
        // PAE PDPTEs carry only P (R/W, U/S, XD are reserved there).
        e = t | ((mode_ == Mode::pae && level == 3) ? pte::P : table_flags);
        phys_.poke64(e_gpa, e);
      }
      table = e & 0x000FFFFFFFFFF000ull;
    }
  }
  // The entry at `level` (1 = PTE ... 5 = PML5E) on the path of `linear` (after map()).
  uint64_t entry_gpa(uint64_t linear, unsigned level) const {
    unsigned l = mode_ == Mode::level5 ? 5 : mode_ == Mode::level4 ? 4 : mode_ == Mode::pae ? 3 : 2;
    uint64_t table = root_;
    for (;; --l) {
      if (mode_ == Mode::bits32) {
        const uint64_t e_gpa = table + ((linear >> (l == 2 ? 22 : 12)) & 1023) * 4;
        if (l == level) return e_gpa;
        table = phys_.peek(e_gpa, 4) & 0xFFFFF000ull;
        continue;
      }
      const unsigned shift = 12 + 9 * (l - 1);
      const unsigned index_bits = (mode_ == Mode::pae && l == 3) ? 2 : 9;
      const uint64_t e_gpa = table + ((linear >> shift) & ((1u << index_bits) - 1)) * 8;
      if (l == level) return e_gpa;
      table = phys_.peek(e_gpa) & 0x000FFFFFFFFFF000ull;
    }
  }

 private:
  uint64_t alloc() {
    const uint64_t t = next_;
    next_ += 4096;
    phys_.map_ram(t, 4096);
    return t;
  }
  uint64_t map32(uint64_t linear, uint64_t gpa, uint64_t leaf_flags, uint64_t page_size, uint64_t table_flags) {
    const uint64_t pde_gpa = root_ + ((linear >> 22) & 1023) * 4;
    if (page_size == (4u << 20)) {
      const uint64_t e = (gpa & 0xFFC00000ull) | (((gpa >> 32) & 0xFF) << 13) | leaf_flags | pte::PS;
      phys_.poke32(pde_gpa, static_cast<uint32_t>(e));
      return pde_gpa;
    }
    uint64_t pde = phys_.peek(pde_gpa, 4);
    if (!(pde & pte::P)) {
      pde = alloc() | table_flags;
      phys_.poke32(pde_gpa, static_cast<uint32_t>(pde));
    }
    const uint64_t pte_gpa = (pde & 0xFFFFF000ull) + ((linear >> 12) & 1023) * 4;
    phys_.poke32(pte_gpa, static_cast<uint32_t>((gpa & 0xFFFFF000ull) | leaf_flags));
    return pte_gpa;
  }

  FakePhys& phys_;
  Mode mode_;
  uint64_t next_;
  uint64_t root_;
};

// Paging off, linear = physical; 64-bit linear addresses in 64-bit mode.
inline PagingState flat_state(decode::CpuMode mode, uint8_t cpl = 0) {
  PagingState s;
  s.cr0 = arch::cr0::PE;
  if (mode == decode::CpuMode::bits64) s.efer = arch::efer::LME | arch::efer::LMA;
  s.cpl = cpl;
  return s;
}

// Decodes `code` in `mode` and emulates it on ctx (ctx.rip set by the caller).
inline emu::Result run(const Bytes& code, emu::EmuContext& ctx, bool apx = true, decode::Instruction* out = nullptr) {
  decode::Options o;
  o.mode = ctx.mode;
  o.apx = apx;
  o.real_mode = ctx.real_or_v86 && ctx.mode == decode::CpuMode::bits16;
  const decode::Instruction insn = decode::decode(code.data(), code.size(), o);
  if (out) *out = insn;
  return emu::emulate(insn, ctx);
}

}  // namespace emu_test
