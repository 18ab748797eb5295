// The guest's paging, walked in software: linear → guest-physical with the architectural
// access checks and #PF error codes (SDM Vol 3A chapter 4 "Paging"). For the emulator and
// the handlers that touch guest memory by linear address (descriptor tables, instruction
// fetch). All four paging modes: 32-bit, PAE, 4-level and 5-level (Vol 3A 4.1.1 Table 4-1),
// plus paging off (identity).
//
// A/D bits: a successful translation sets the accessed flag in every paging-structure entry
// it used and, for a write, the dirty flag in the leaf (Vol 3A 4.8), with a locked
// compare-exchange on guest memory, as the processor does. PAE PDPTEs are registers and are
// not updated. Bits are set only when the whole access is allowed: a faulting access changes
// nothing (the processor may set A bits on a faulting walk; not doing so is allowed, 4.8).
//
// Not modelled: shadow-stack accesses (CET), HLAT, SGX, the PCD/PWT/PAT memory type, TLBs.
#pragma once
#include <stdint.h>

#include "decode/emulate/linear_memory.hpp"
#include "vmm/guest_memory/guest_phys_memory.hpp"

namespace vmm::guest_memory {

using decode::emulate::AccessType;

// Paging-structure entry bits (SDM Vol 3A 4.3-4.5, Tables 4-4 to 4-20).
namespace pte {
inline constexpr uint64_t P = 1ull << 0, RW = 1ull << 1, US = 1ull << 2, PWT = 1ull << 3, PCD = 1ull << 4,
                          A = 1ull << 5, D = 1ull << 6, PS = 1ull << 7, G = 1ull << 8,
                          PAT_LARGE = 1ull << 12, XD = 1ull << 63;
inline constexpr unsigned kPkeyShift = 59;  // bits 62:59 of a leaf: protection key (4-/5-level)
}  // namespace pte

// #PF error code (SDM Vol 3A 4.7, Figure 4-12).
namespace pf_error {
inline constexpr uint32_t P = 1u << 0,     // 0: not-present page; 1: protection violation (incl. RSVD)
                          W = 1u << 1,     // the access was a write
                          U = 1u << 2,     // a user-mode access (CPL 3, not implicit supervisor)
                          RSVD = 1u << 3,  // a reserved bit set in some paging-structure entry
                          ID = 1u << 4,    // instruction fetch (only with SMEP, or PAE/IA-32e and NXE)
                          PK = 1u << 5;    // protection-key violation
}  // namespace pf_error

// The mode of an access (SDM Vol 3A 4.6 "Access Rights"): user-mode accesses are those at
// CPL 3 that are not implicit supervisor accesses; accesses to the GDT/LDT/IDT/TSS are
// implicit supervisor accesses at any CPL.
enum class Privilege : uint8_t {
  from_cpl,             // user iff PagingState::cpl == 3 (explicit accesses of an instruction)
  user,
  supervisor,           // explicit supervisor access (SMAP honours RFLAGS.AC)
  implicit_supervisor,  // descriptor tables, TSS (SMAP ignores RFLAGS.AC)
};

struct Access {
  AccessType type = AccessType::read;
  Privilege privilege = Privilege::from_cpl;
};

// Everything the walk depends on, from the VMCS guest area (emu_state.hpp reads it).
struct PagingState {
  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;         // LMA selects IA-32e paging, NXE enables XD
  uint8_t cpl = 0;
  bool rflags_ac = false;    // RFLAGS.AC (SMAP, Vol 3A 4.6.1)
  uint32_t pkru = 0;         // CR4.PKE: rights of user pages by key (not in the VMCS: caller's copy)
  uint32_t pkrs = 0;         // CR4.PKS: IA32_PKRS for supervisor pages (VMCS guest_ia32_pkrs)
  uint8_t maxphyaddr = 52;   // CPUID.80000008H:EAX[7:0]: physical-address bits above it are reserved
  bool pdptes_valid = false; // PAE: pdpte[] holds the PDPTE registers (VMCS GUEST_PDPTE0-3 with
  uint64_t pdpte[4] = {};    // EPT, SDM Vol 3C 27.3.2.4); else they are read from CR3
  bool set_accessed_dirty = true;
};

enum class PagingMode : uint8_t { none, bits32, pae, level4, level5 };
// SDM Vol 3A 4.1.1 Table 4-1: CR0.PG, CR4.PAE, EFER.LME(LMA), CR4.LA57.
PagingMode paging_mode(const PagingState& s);
const char* paging_mode_name(PagingMode m);

enum class WalkStatus : uint8_t {
  ok,
  page_fault,  // error_code; CR2 is the linear address
  bad_gpa,     // a paging-structure entry lies at a GPA that is not guest RAM (`gpa`)
  retry,       // the entries kept changing while their A/D bits were being set
};

struct Translation {
  WalkStatus status = WalkStatus::ok;
  uint64_t gpa = 0;          // ok: the guest-physical address of the linear address; bad_gpa: the entry's
  uint64_t page_size = 0;    // ok: 4 KiB, 2 MiB, 4 MiB or 1 GiB (paging off: 4 KiB)
  uint32_t error_code = 0;   // page_fault
  // The A/D updates the access needs (walk() lists them, commit_accessed_dirty() applies them).
  struct Update {
    uint64_t gpa;
    uint64_t old_value;
    uint64_t new_value;
    uint8_t bytes;  // 4 (32-bit paging) or 8
  };
  uint8_t update_count = 0;
  Update update[5] = {};
  // The paging-structure entries the walk read from memory, in order (not the PAE PDPTE
  // registers): the translation stays what it is while they hold the same values, under the
  // same CR0/CR3/CR4/EFER and CPL (vmm/handlers/rip_decode_cache.hpp relies on it).
  uint8_t entry_count = 0;
  uint64_t entry_gpa[5] = {};
  uint64_t entry_value[5] = {};  // as read (8-byte entries; 4-byte ones zero-extended)

  constexpr bool ok() const { return status == WalkStatus::ok; }
};

// The walk alone: checks, no memory written. `linear` is taken as is (the emulator has
// already done segmentation and the canonical check).
Translation walk(GuestPhysMemory& phys, uint64_t linear, Access access, const PagingState& state);

// Sets the A/D bits a successful walk() listed. Returns ok, retry (an entry changed since the
// walk: walk again) or bad_gpa.
WalkStatus commit_accessed_dirty(GuestPhysMemory& phys, const Translation& t);

// walk() + commit_accessed_dirty() (when state.set_accessed_dirty), walking again if an entry
// changed in between (bounded; then `retry`).
Translation translate(GuestPhysMemory& phys, uint64_t linear, Access access, const PagingState& state);

}  // namespace vmm::guest_memory
