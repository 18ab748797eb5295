// Starting an AP at the guest's own real-mode code and the triple-fault check around it
// (legacy_ap.hpp).
#include "tests/guest/legacy_ap.hpp"

#include "tests/guest/guarded_insn.hpp"

namespace guest {

void start_ap(EFI_BOOT_SERVICES* bs, const LocalApic& apic, uint32_t apic_id, uint32_t vector) {
  apic.send(apic_id, kIcrInitAssert);
  apic.send(apic_id, kIcrInitDeassert);
  bs->Stall(10000);
  apic.send(apic_id, kIcrStartup | vector);
  bs->Stall(200);
  apic.send(apic_id, kIcrStartup | vector);
}

uint64_t await_triple_fault(EFI_BOOT_SERVICES* bs, volatile uint32_t& go, UINTN ap, uint64_t before) {
  go = 1;
  uint64_t triple = 0;
  for (unsigned waited = 0; waited < 2000 && triple == 0; ++waited) {
    bs->Stall(1000);
    triple = hypercall(1, ap, kTripleFaultExit).rbx - before;
  }
  bs->Stall(20000);  // time for anything after the faulting instruction to show
  return hypercall(1, ap, kTripleFaultExit).rbx - before;
}

uint32_t restart_after_shutdown(EFI_BOOT_SERVICES* bs, const LocalApic& apic, uint32_t apic_id, uint32_t vector,
                                volatile uint32_t& restart, const volatile uint32_t& restarted) {
  restart = 1;
  start_ap(bs, apic, apic_id, vector);
  for (unsigned waited = 0; waited < 2000 && !restarted; ++waited) bs->Stall(1000);
  bs->Stall(20000);  // a second start would show
  return restarted;
}

}  // namespace guest
