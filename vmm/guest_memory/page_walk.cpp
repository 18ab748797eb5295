// The guest page walk (SDM Vol 3A chapter 4). One loop serves PAE, 4-level and 5-level
// paging (8-byte entries, 9 index bits per level); 32-bit paging has its own short path.
#include "arch/cr_bits.hpp"
#include "vmm/guest_memory/paging.hpp"

namespace vmm::guest_memory {

namespace {

constexpr uint64_t kPage = 4096;
constexpr unsigned kCommitTries = 8;

// Bits 51:M of an entry: physical-address bits the CPU does not have, reserved (Vol 3A 4.5,
// "Reserved bits", Tables 4-14 to 4-20).
constexpr uint64_t reserved_above(unsigned m) { return ((1ull << 52) - 1) & ~((1ull << m) - 1); }

struct Rights {
  bool rw = true;   // R/W = 1 in every entry
  bool us = true;   // U/S = 1 in every entry: a user-mode address
  bool xd = false;  // XD = 1 in some entry (with EFER.NXE)
};

class Walker {
 public:
  Walker(GuestPhysMemory& phys, uint64_t linear, Access access, const PagingState& s)
      : phys_(phys), linear_(linear), s_(s), mode_(paging_mode(s)) {
    write_ = access.type == AccessType::write;
    fetch_ = access.type == AccessType::fetch;
    implicit_ = access.privilege == Privilege::implicit_supervisor;
    user_ = access.privilege == Privilege::user || (access.privilege == Privilege::from_cpl && s.cpl == 3);
    nxe_ = mode_ != PagingMode::bits32 && (s.efer & arch::efer::NXE);
    m_ = s.maxphyaddr < 32 ? 32 : s.maxphyaddr > 52 ? 52 : s.maxphyaddr;
    addr_mask_ = ((1ull << m_) - 1) & ~(kPage - 1);
    // Vol 3A 4.7: W/R and U/S describe the access; I/D is set for fetches only when SMEP is on
    // or XD exists (PAE/IA-32e paging with EFER.NXE).
    base_error_ = (write_ ? pf_error::W : 0) | (user_ ? pf_error::U : 0);
    if (fetch_ && ((s.cr4 & arch::cr4::SMEP) || nxe_)) base_error_ |= pf_error::ID;
  }

  Translation run();

 private:
  Translation& fault(uint32_t bits) {
    t_.status = WalkStatus::page_fault;
    t_.error_code = base_error_ | bits;
    return t_;
  }
  bool read_entry(uint64_t gpa, unsigned bytes, uint64_t& e) {
    e = 0;
    if (phys_.read(gpa, &e, bytes) == PhysStatus::ok) {
      if (t_.entry_count < 5) {
        t_.entry_gpa[t_.entry_count] = gpa;
        t_.entry_value[t_.entry_count++] = e;
      }
      return true;
    }
    t_.status = WalkStatus::bad_gpa;
    t_.gpa = gpa;
    return false;
  }
  // Vol 3A 4.8: A in every entry used, D in the entry that maps the page, for a write.
  void note_update(uint64_t gpa, uint64_t e, unsigned bytes, bool leaf) {
    if (!s_.set_accessed_dirty) return;
    const uint64_t want = e | pte::A | ((leaf && write_) ? pte::D : 0);
    if (want == e || t_.update_count >= 5) return;
    t_.update[t_.update_count++] = {gpa, e, want, static_cast<uint8_t>(bytes)};
  }
  void accumulate(uint64_t e) {
    r_.rw = r_.rw && (e & pte::RW);
    r_.us = r_.us && (e & pte::US);
    r_.xd = r_.xd || (nxe_ && (e & pte::XD));
  }
  Translation bits32();
  Translation long_walk();  // PAE, 4-level, 5-level
  Translation check_rights(uint64_t gpa, uint64_t page_size, unsigned pkey);

  GuestPhysMemory& phys_;
  const uint64_t linear_;
  const PagingState& s_;
  const PagingMode mode_;
  bool write_ = false, fetch_ = false, implicit_ = false, user_ = false, nxe_ = false;
  unsigned m_ = 52;
  uint64_t addr_mask_ = 0;
  uint32_t base_error_ = 0;
  Rights r_;
  Translation t_;
};

// 32-bit paging (Vol 3A 4.3): 4-byte entries, a page directory at CR3[31:12], 4 MiB pages with
// CR4.PSE (PSE-36: PDE bits 20:13 are physical bits 39:32, bit 21 reserved, Table 4-4).
Translation Walker::bits32() {
  const uint64_t lin = linear_ & 0xFFFFFFFFull;
  const uint64_t pde_gpa = (s_.cr3 & 0xFFFFF000ull) + ((lin >> 22) & 1023) * 4;
  uint64_t pde = 0;
  if (!read_entry(pde_gpa, 4, pde)) return t_;
  if (!(pde & pte::P)) return fault(0);
  if ((s_.cr4 & arch::cr4::PSE) && (pde & pte::PS)) {
    const unsigned m = m_ > 40 ? 40 : m_;
    const uint64_t high = (pde >> 13) & 0xFF;  // physical bits 39:32
    if ((pde & (1ull << 21)) || (high >> (m - 32)) != 0) return fault(pf_error::P | pf_error::RSVD);
    accumulate(pde);
    note_update(pde_gpa, pde, 4, true);
    const uint64_t gpa = (pde & 0xFFC00000ull) | (high << 32) | (lin & 0x3FFFFF);
    return check_rights(gpa, 4ull << 20, 0);
  }
  accumulate(pde);
  note_update(pde_gpa, pde, 4, false);
  const uint64_t pte_gpa = (pde & 0xFFFFF000ull) + ((lin >> 12) & 1023) * 4;
  uint64_t e = 0;
  if (!read_entry(pte_gpa, 4, e)) return t_;
  if (!(e & pte::P)) return fault(0);
  accumulate(e);
  note_update(pte_gpa, e, 4, true);
  return check_rights((e & 0xFFFFF000ull) | (lin & 0xFFF), kPage, 0);
}

// PAE (Vol 3A 4.4), 4-level and 5-level paging (4.5): 8-byte entries, 9 index bits per level.
Translation Walker::long_walk() {
  const uint64_t rsvd = reserved_above(m_) | (nxe_ ? 0 : pte::XD);
  uint64_t table = 0;
  unsigned level = 0;
  uint64_t lin = linear_;
  if (mode_ == PagingMode::pae) {
    // The four PDPTE registers (Vol 3A 4.4.1). They do not carry R/W, U/S or XD; bits 2:1,
    // 8:5 and 63 are reserved (Table 4-8). A real CPU checks them at MOV CR3 (#GP); a walk
    // from memory reports them as RSVD page faults.
    lin &= 0xFFFFFFFFull;
    const unsigned i = static_cast<unsigned>(lin >> 30) & 3;
    uint64_t e = 0;
    if (s_.pdptes_valid)
      e = s_.pdpte[i];
    else if (!read_entry((s_.cr3 & 0xFFFFFFE0ull) + 8ull * i, 8, e))
      return t_;
    if (!(e & pte::P)) return fault(0);
    if (e & (reserved_above(m_) | pte::XD | 0x1E6ull)) return fault(pf_error::P | pf_error::RSVD);
    table = e & addr_mask_;
    level = 2;
  } else {
    table = s_.cr3 & addr_mask_;
    level = mode_ == PagingMode::level5 ? 5 : 4;
  }
  for (; level >= 1; --level) {
    const unsigned shift = 12 + 9 * (level - 1);
    const uint64_t gpa = table + ((lin >> shift) & 511) * 8;
    uint64_t e = 0;
    if (!read_entry(gpa, 8, e)) return t_;
    if (!(e & pte::P)) return fault(0);
    uint64_t reserved = rsvd;
    const bool leaf = level == 1 || ((level == 2 || level == 3) && (e & pte::PS));
    if (level >= 4) reserved |= pte::PS;        // PML5E/PML4E: PS is reserved
    if (leaf && level == 3) reserved |= 0x3FFFE000ull;  // 1 GiB page: bits 29:13
    if (leaf && level == 2) reserved |= 0x001FE000ull;  // 2 MiB page: bits 20:13
    if (e & reserved) return fault(pf_error::P | pf_error::RSVD);
    accumulate(e);
    note_update(gpa, e, 8, leaf);
    if (leaf) {
      const uint64_t size = 1ull << shift;
      const uint64_t page = e & addr_mask_ & ~(size - 1);
      const bool has_keys = mode_ == PagingMode::level4 || mode_ == PagingMode::level5;
      return check_rights(page | (lin & (size - 1)), size, has_keys ? static_cast<unsigned>((e >> pte::kPkeyShift) & 15) : 0);
    }
    table = e & addr_mask_;
  }
  return t_;  // not reached
}

// Vol 3A 4.6 "Access Rights" and 4.6.2 "Protection Keys".
Translation Walker::check_rights(uint64_t gpa, uint64_t page_size, unsigned pkey) {
  const bool wp = s_.cr0 & arch::cr0::WP;
  if (user_) {
    // User-mode access: every entry must allow user mode; writes need R/W everywhere (CR0.WP
    // does not matter); fetches need XD clear.
    if (!r_.us) return fault(pf_error::P);
    if (write_ && !r_.rw) return fault(pf_error::P);
    if (fetch_ && r_.xd) return fault(pf_error::P);
  } else if (fetch_) {
    // Supervisor fetch: not from a user-mode address with SMEP (4.6.1), not from XD memory.
    if (r_.us && (s_.cr4 & arch::cr4::SMEP)) return fault(pf_error::P);
    if (r_.xd) return fault(pf_error::P);
  } else {
    // Supervisor data access to a user-mode address with SMAP: allowed only for an explicit
    // access with RFLAGS.AC = 1. Writes to read-only memory only with CR0.WP = 0.
    if (r_.us && (s_.cr4 & arch::cr4::SMAP) && (implicit_ || !s_.rflags_ac)) return fault(pf_error::P);
    if (write_ && !r_.rw && wp) return fault(pf_error::P);
  }
  const bool keys = mode_ == PagingMode::level4 || mode_ == PagingMode::level5;
  if (keys && !fetch_) {
    // PKRU governs user-mode addresses (CR4.PKE), IA32_PKRS supervisor-mode ones (CR4.PKS):
    // AD forbids every data access, WD forbids writes by user mode and, with CR0.WP = 1, by
    // supervisor mode.
    const bool enabled = r_.us ? (s_.cr4 & arch::cr4::PKE) != 0 : (s_.cr4 & arch::cr4::PKS) != 0;
    const uint32_t rights = r_.us ? s_.pkru : s_.pkrs;
    if (enabled) {
      const bool ad = (rights >> (2 * pkey)) & 1, wd = (rights >> (2 * pkey + 1)) & 1;
      if (ad || (write_ && wd && (user_ || wp))) return fault(pf_error::P | pf_error::PK);
    }
  }
  t_.status = WalkStatus::ok;
  t_.gpa = gpa;
  t_.page_size = page_size;
  return t_;
}

Translation Walker::run() {
  switch (mode_) {
    case PagingMode::none:
      // Paging off: linear = physical (Vol 3A 4.1.1). Linear addresses are 32 bits unless
      // EFER.LMA (which architecturally implies paging; kept 64-bit for host-side tests).
      t_.gpa = (s_.efer & arch::efer::LMA) ? linear_ : (linear_ & 0xFFFFFFFFull);
      t_.page_size = kPage;
      return t_;
    case PagingMode::bits32: return bits32();
    default: return long_walk();
  }
}

}  // namespace

PagingMode paging_mode(const PagingState& s) {
  if (!(s.cr0 & arch::cr0::PG)) return PagingMode::none;
  if (!(s.cr4 & arch::cr4::PAE)) return PagingMode::bits32;
  if (!(s.efer & arch::efer::LMA)) return PagingMode::pae;
  return (s.cr4 & arch::cr4::LA57) ? PagingMode::level5 : PagingMode::level4;
}

const char* paging_mode_name(PagingMode m) {
  switch (m) {
    case PagingMode::none: return "none";
    case PagingMode::bits32: return "32-bit";
    case PagingMode::pae: return "PAE";
    case PagingMode::level4: return "4-level";
    case PagingMode::level5: return "5-level";
  }
  return "?";
}

Translation walk(GuestPhysMemory& phys, uint64_t linear, Access access, const PagingState& state) {
  Walker w(phys, linear, access, state);
  return w.run();
}

WalkStatus commit_accessed_dirty(GuestPhysMemory& phys, const Translation& t, uint64_t* bad_gpa) {
  for (unsigned i = 0; i < t.update_count && i < 5; ++i) {
    const Translation::Update& u = t.update[i];
    uint64_t seen = 0;
    if (phys.cmpxchg(u.gpa, u.bytes, u.old_value, u.new_value, &seen) != PhysStatus::ok) {
      if (bad_gpa) *bad_gpa = u.gpa;
      return WalkStatus::bad_gpa;
    }
    // Someone else changed the entry since the walk (or set the bits first): walk again.
    if (seen != u.old_value) return WalkStatus::retry;
  }
  return WalkStatus::ok;
}

Translation translate(GuestPhysMemory& phys, uint64_t linear, Access access, const PagingState& state) {
  Translation t;
  for (unsigned i = 0; i < kCommitTries; ++i) {
    t = walk(phys, linear, access, state);
    if (!t.ok() || t.update_count == 0) return t;
    uint64_t bad = 0;
    const WalkStatus c = commit_accessed_dirty(phys, t, &bad);
    if (c == WalkStatus::ok) return t;
    if (c == WalkStatus::bad_gpa) {
      t.status = WalkStatus::bad_gpa;
      t.gpa = bad;
      return t;
    }
  }
  t.status = WalkStatus::retry;
  return t;
}

}  // namespace vmm::guest_memory
