// A per-vCPU cache of the last MOV-load the APIC-access fast path decoded
// (vmm/handlers/store32_at_rip.hpp, load32_at_rip): the translation of the guest's RIP and
// the decoded instruction there. A guest reads the PPR or the timer's current count from the
// same few instructions again and again; walking its page tables through the routed view and
// decoding the bytes each time is most of such an exit's cost (issue P12).
//
// When it is invalid: never by an event — nothing the guest does to its page tables or code
// exits, so nothing could announce it. Instead every use re-checks everything the
// translation and the decode depend on, and any difference is a miss (the uncached path runs
// and refills the entry):
//   - GUEST_RIP, CR0, CR3, CR4, EFER, the CPL and the code size (64-bit only), and whether
//     the guest may use REX2 (its XCR0.APX and CR4.OSXSAVE);
//   - each paging-structure entry the walk read (4- and 5-level paging only), re-read from
//     guest memory: equal entries under equal control registers give the same translation
//     (SDM Vol 3A 4.5), including the fetch rights (U/S, XD, SMEP from CR4 and the CPL);
//   - the instruction bytes themselves, re-read at the translated address.
// A hit (store32_at_rip.cpp, load32_cached) reads only the VMCS fields these checks compare
// and retires the load with the cached length, as an `advance` exit retires its instruction.
// The re-reads go through host pointers the guest-memory seam handed out for plain RAM
// (GuestPhysMemory::ram_pointer), which stay valid: a page's being guest RAM, hypervisor
// memory or the APIC page never changes after boot. An instruction that crosses a page, or a
// walk through anything but RAM, is not cached.
#pragma once
#include <stdint.h>

#include "decode/mov_store32.hpp"

namespace vmm {

struct RipDecodeCache {
  static constexpr unsigned kMaxEntries = 5;
  static constexpr unsigned kMaxLength = 15;

  bool valid;
  bool apx;       // REX2 allowed when decoded
  uint8_t cpl;
  uint8_t mode;   // decode::CpuMode of the decode
  uint8_t entry_count;
  uint64_t rip, cr0, cr3, cr4, efer;
  const volatile uint64_t* entry[kMaxEntries];  // the walk's paging-structure entries
  uint64_t entry_value[kMaxEntries];            // what they held
  const volatile uint8_t* code;                 // the instruction's first byte
  uint8_t bytes[kMaxLength];                    // its bytes (match.length of them)
  decode::MovStore32 match;

  // The memory the decode depended on reads as it did: every paging entry of the walk and the
  // instruction's bytes (another CPU or the guest may have changed either since).
  bool memory_unchanged() const {
    for (unsigned i = 0; i < entry_count; ++i)
      if (*entry[i] != entry_value[i]) return false;
    for (unsigned i = 0; i < match.length; ++i)
      if (code[i] != bytes[i]) return false;
    return true;
  }
};

}  // namespace vmm
