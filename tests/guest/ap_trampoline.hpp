// What the BSP side of the guest's own AP starts shares: the record the real-mode trampoline
// (ap_trampoline.S) fills in, the ICR words of INIT, STARTUP and NMI, and the local APIC the
// guest sends them through. Used by ap_restart_checks.cpp (INIT-SIPI-SIPI rounds) and
// ap_native_init_checks.cpp (the native INIT/SIPI path's details).
#pragma once
#include <stdint.h>

#include "arch/cpu.hpp"
#include "arch/msr.hpp"
#include "boot/efi/efi.hpp"

namespace guest {

// What the trampoline records (offsets: ap_trampoline.S).
struct ApTrampolineRecord {
  volatile uint32_t runs;
  volatile uint32_t edx;
  volatile uint16_t cs;
  volatile uint16_t msw;
  volatile uint32_t cpuid1_ecx;
  volatile uint32_t esp;
  volatile uint32_t gp_count;  // #GPs the real-mode handler took
  volatile uint16_t gp_ip;     // what the #GP pushed: IP, then CS
  volatile uint16_t gp_cs;
  volatile uint32_t after_gp;  // 1: execution went on after the faulting RDMSR
  // The rest of the arrival state (INIT + STARTUP: SDM Vol 3A Table 10-1).
  volatile uint32_t eax, ebx, ecx, esi, edi, ebp;
  volatile uint32_t eflags;  // EFLAGS before the trampoline changes any flag
  volatile uint32_t cr0;     // MOV from CR0: what the guest reads
  volatile uint32_t spin;    // set by the BSP: after counting its run, loop (1) or halt (0)
  volatile uint32_t beat;    // incremented by that loop
  volatile uint32_t nmis;    // NMIs taken through IVT entry 2
  volatile uint16_t ip;      // IP the code started at (from a CALL's return address)
  volatile uint16_t pad;
  volatile uint32_t cr4, cr2, dr7;  // as read on arrival
  volatile uint32_t efer_lo, efer_hi;  // RDMSR IA32_EFER from real mode
  volatile uint16_t sel[5];    // DS ES FS GS SS selectors on arrival
  volatile uint16_t probe[5];  // the word read through DS ES FS GS SS at kSegProbe + 2 * i
};
constexpr uint64_t kRecordOffset = 0x200;
static_assert(sizeof(ApTrampolineRecord) == 0x78, "ap_trampoline.S's offsets");

// A physical address below 1 MiB as a pointer (identity-mapped by the firmware); through an
// asm barrier, so that the compiler does not treat a small constant as a null dereference.
template <typename T>
volatile T* low(uint64_t phys) {
  asm("" : "+r"(phys));
  return reinterpret_cast<volatile T*>(phys);
}

// The data segments' bases after INIT are 0 (Table 10-1). Real mode gives no instruction that
// reads a base, so the trampoline reads one word through each of DS ES FS GS SS at offset
// kSegProbe + 2 * i, and the BSP has put a different pattern word at each of those linear
// addresses: a segment with another base reads something else. The words are IVT vectors
// FCH-FEH, which nothing uses while UEFI runs in long mode; kept and put back on destruction.
constexpr uint64_t kSegProbe = 0x3f0;  // SEG_PROBE in ap_trampoline.S
constexpr uint16_t kSegProbePattern[5] = {0xd501, 0xe502, 0xf503, 0x6504, 0x5505};
struct ApSegmentProbe {
  uint16_t saved[5];
  ApSegmentProbe() {
    volatile uint16_t* w = low<uint16_t>(kSegProbe);
    for (unsigned i = 0; i < 5; ++i) {
      saved[i] = w[i];
      w[i] = kSegProbePattern[i];
    }
  }
  ~ApSegmentProbe() {
    volatile uint16_t* w = low<uint16_t>(kSegProbe);
    for (unsigned i = 0; i < 5; ++i) w[i] = saved[i];
  }
  ApSegmentProbe(const ApSegmentProbe&) = delete;
  ApSegmentProbe& operator=(const ApSegmentProbe&) = delete;
};

// ICR low words (SDM Vol 3A 11.6.1, Figure 11-12), as Linux's wakeup_secondary_cpu_via_init
// sends them: INIT level-assert, INIT level-deassert, STARTUP with the page number.
constexpr uint32_t kIcrInitAssert = 0x0000c500;    // level trigger, assert, delivery INIT
constexpr uint32_t kIcrInitDeassert = 0x00008500;  // level trigger, de-assert, delivery INIT
constexpr uint32_t kIcrStartup = 0x00000600;       // delivery STARTUP | vector
constexpr uint32_t kIcrNmi = 0x00004400;           // assert, delivery NMI (vector ignored)
constexpr uint32_t kIcrPending = 1u << 12;         // xAPIC delivery status: send pending
constexpr uint64_t kApicBaseX2apic = 1ull << 10;   // IA32_APIC_BASE.EXTD
constexpr uint64_t kXapicIcrLow = 0x300, kXapicIcrHigh = 0x310;

struct LocalApic {
  bool x2apic;
  uint64_t base;

  static LocalApic current() {
    uint64_t msr = arch::rdmsr(arch::Msr::IA32_APIC_BASE);
    return {(msr & kApicBaseX2apic) != 0, msr & ~0xfffull};
  }
  void send(uint32_t apic_id, uint32_t low) const {
    if (x2apic) {
      arch::wrmsr(arch::Msr::IA32_X2APIC_ICR, (uint64_t{apic_id} << 32) | low);
      return;
    }
    auto* high_reg = reinterpret_cast<volatile uint32_t*>(base + kXapicIcrHigh);
    auto* low_reg = reinterpret_cast<volatile uint32_t*>(base + kXapicIcrLow);
    *high_reg = apic_id << 24;
    *low_reg = low;
    for (unsigned spin = 0; spin < 1000000 && (*low_reg & kIcrPending); ++spin) arch::cpu_pause();
  }
};

// Waits up to `timeout_us` for the AP's run count to reach `runs`.
inline bool wait_for_runs(EFI_BOOT_SERVICES* bs, const ApTrampolineRecord& rec, uint32_t runs, unsigned timeout_us) {
  for (unsigned waited = 0; waited < timeout_us; waited += 1000) {
    if (rec.runs >= runs) return true;
    bs->Stall(1000);
  }
  return rec.runs >= runs;
}

// The AP the trampoline runs on, and where its copy lies.
struct ApTarget {
  LocalApic apic;
  uint32_t apic_id;
  uint64_t page;  // below 1 MiB; the STARTUP vector is page >> 12
  ApTrampolineRecord* rec;
  uint32_t runs;  // the trampoline's runs so far (what rec->runs must read)
};

// The native INIT/SIPI path's details (ap_native_init_checks.cpp): the AP halted in the
// trampoline, init_sipi=native. Leaves it halted in the trampoline again.
struct Tally;
void run_native_init_sipi_checks(Tally& t, EFI_BOOT_SERVICES* bs, ApTarget& ap);

// Fills the arrival-state fields of the record with a value no register holds after INIT,
// so that a field the trampoline did not write fails its check.
void mark_arrival_unwritten(ApTrampolineRecord& rec);

// The rest of INIT's state as the trampoline recorded it (SDM Vol 3A Table 10-1): CR0 =
// 60000010H (CD and NW as the guest reads them), CR4 = 0, IA32_EFER = 0, CR2 = 0, DR7 = 400H,
// DS ES FS GS SS selectors 0 and bases 0 (ApSegmentProbe). CS base = vector << 12 needs no
// check of its own: every record field is written through CS and found in the page. Four
// checks, named `prefix` "AP arrives with INIT's ..." `suffix`; the details give the values read.
void check_arrival_state(Tally& t, const ApTrampolineRecord& rec, const char* prefix, const char* suffix);

}  // namespace guest
