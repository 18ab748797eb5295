// The `attack` program's descriptor-table attacks (issue P8): an AP the guest starts itself
// (INIT-SIPI-SIPI, its own real-mode code: attack_tables_ap.S) points its GDT, its LDT, then its IDT
// at a hypervisor page, which reads zeros (README, "What a guest can and cannot do"). The
// answers are those of a table of zeros on hardware:
//   - a segment load through the GDT there finds a zero descriptor, not a data segment:
//     #GP(selector) through the AP's own IDT, and the AP goes on (SDM Vol 2B MOV); the same
//     through an LDT there (LLDT of a good descriptor whose base is the hypervisor page);
//   - an exception with the IDT there finds zero gates: #GP, #DF, a triple fault (Vol 3A 6.15):
//     the AP enters the shutdown state (one triple-fault exit, nothing after the INT3 runs)
//     and the next INIT-SIPI-SIPI starts it again; the hypervisor and the BSP run on.
// The BSP prints what the AP saw and one PASS/FAIL line per check.
#include "tests/guest/attack_tables.hpp"

#include "tests/guest/attack_tables_layout.h"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/legacy_ap.hpp"

extern "C" const uint8_t attack_tables_ap_start[], attack_tables_ap_end[], attack_tables_ap_load_es[],
    attack_tables_ap_load_es_ldt[], attack_tables_ap_int3[];
extern "C" const uint32_t attack_tables_ap_vectors[32];

namespace guest {
namespace {

struct Result {
  volatile uint32_t faults, vector, error, eip, cs, loaded;
};
// What the AP records (offsets: attack_tables_layout.h, ATR_*).
struct TablesRecord {
  volatile uint32_t stage, done;
  volatile uint32_t f_count, f_vector, f_error, f_eip, f_cs, resume;
  volatile uint32_t go, after_shutdown, restart, restarted;
  Result results[AT_CHECKS];
};
static_assert(__builtin_offsetof(TablesRecord, f_count) == ATR_F_COUNT);
static_assert(__builtin_offsetof(TablesRecord, f_cs) == ATR_F_CS);
static_assert(__builtin_offsetof(TablesRecord, go) == ATR_GO);
static_assert(__builtin_offsetof(TablesRecord, restarted) == ATR_RESTARTED);
static_assert(__builtin_offsetof(TablesRecord, results) == ATR_RESULTS);
static_assert(sizeof(Result) == AT_RESULT_SIZE);
static_assert(sizeof(TablesRecord) == ATR_SIZE);
static_assert(AT_RECORD + ATR_SIZE <= AT_GDT);

constexpr int kGP = 13;

uint32_t offset_of(const uint8_t* label) { return static_cast<uint32_t>(label - attack_tables_ap_start); }

void build_block(uint64_t base, uint32_t hv_page) {
  auto* bytes = reinterpret_cast<volatile uint8_t*>(base);
  for (uint32_t i = 0; i < AT_PAGES * 4096u; ++i) bytes[i] = 0;
  const auto size = static_cast<uint32_t>(attack_tables_ap_end - attack_tables_ap_start);
  for (uint32_t i = 0; i < size; ++i) bytes[AT_CODE + i] = attack_tables_ap_start[i];
  const auto b = static_cast<uint32_t>(base);
  auto* gdt = reinterpret_cast<volatile uint64_t*>(base + AT_GDT);
  gdt[AT_SEL_CODE32 / 8] = segment(b, 0xfffff, kCode, kFlags32);
  gdt[AT_SEL_DATA32 / 8] = segment(b, 0xfffff, kData, kFlags32);
  gdt[AT_SEL_LDT / 8] = segment(b + AT_LDT, 7, kLdt, 0);
  gdt[AT_SEL_HV_LDT / 8] = segment(hv_page, AT_HV_TABLE_LIMIT, kLdt, 0);
  // The gates name the LDT's code segment: with the GDT in hypervisor memory, a gate naming a
  // GDT selector could not deliver the fault (its descriptor reads zeros too).
  reinterpret_cast<volatile uint64_t*>(base + AT_LDT)[0] = segment(b, 0xfffff, kCode, kFlags32);
  auto* idt = reinterpret_cast<volatile uint64_t*>(base + AT_IDT);
  auto* idt_gdt = reinterpret_cast<volatile uint64_t*>(base + AT_IDT_GDT);
  for (uint32_t v = 0; v < 32; ++v) {
    idt[v] = interrupt_gate(AT_SEL_LDT_CODE, attack_tables_ap_vectors[v]);
    idt_gdt[v] = interrupt_gate(AT_SEL_CODE32, attack_tables_ap_vectors[v]);  // while LDTR names the hypervisor page
  }
  pseudo_descriptor(base + AT_GDTR, AT_GDT_ENTRIES * 8 - 1, b + AT_GDT);
  pseudo_descriptor(base + AT_IDTR, 32 * 8 - 1, b + AT_IDT);
  pseudo_descriptor(base + AT_IDTR_GDT, 32 * 8 - 1, b + AT_IDT_GDT);
  pseudo_descriptor(base + AT_HV_GDTR, AT_HV_TABLE_LIMIT, hv_page);
  pseudo_descriptor(base + AT_HV_IDTR, AT_HV_TABLE_LIMIT, hv_page);
  // Results the AP never wrote read as this.
  auto* words = reinterpret_cast<volatile uint32_t*>(&reinterpret_cast<TablesRecord*>(base + AT_RECORD)->results[0]);
  for (uint32_t i = 0; i < AT_CHECKS * AT_RESULT_SIZE / 4; ++i) words[i] = 0xa5a5a5a5;
}

// One segment load from a zero descriptor: one #GP(selector) at the MOV, delivered through a
// gate whose code segment still reads (`handler_cs`), and the load did not go on. Prints what
// the AP saw.
bool load_faulted(const Result& r, const char* table, uint16_t selector, const uint8_t* label, uint16_t handler_cs) {
  say("tables: %s in hypervisor memory, MOV to ES of 0x%x: faults %u vector %u error 0x%x at +0x%x (the MOV at "
      "+0x%x), handler CS 0x%x, went on %u",
      table, selector, r.faults, r.vector, r.error, r.eip, offset_of(label), r.cs, r.loaded == 1 ? 1u : 0u);
  return r.faults == 1 && r.vector == kGP && r.error == selector && r.eip == offset_of(label) && r.cs == handler_cs &&
         r.loaded != 1;
}

}  // namespace

void attack_descriptor_tables(Tally& t, EFI_SYSTEM_TABLE* st, uint64_t hv_page) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  MpServices m{};
  efi::ProcessorInformation info{};
  const bool mp = find_mp_services(st, &m) && m.total >= 2;
  const UINTN ap = m.self == 0 ? 1 : 0;
  const bool id = mp && !EFI_ERROR(m.mp->get_processor_info(m.mp, ap, &info));
  // LGDT/LIDT with a 32-bit operand take a 32-bit base: the page must lie below 4 GiB.
  EFI_PHYSICAL_ADDRESS base = 0x9ffff;  // below 1 MiB and the EBDA (a STARTUP vector is a page number)
  const bool block = id && hv_page && hv_page + AT_HV_TABLE_LIMIT < (1ull << 32) &&
                     !EFI_ERROR(bs->AllocatePages(AllocateMaxAddress, EfiLoaderData, AT_PAGES, &base)) &&
                     base >= 0x1000;
  t.check(block, "tables: an AP, a block below 1 MiB for its code and a hypervisor page below 4 GiB",
          "processors %llu, hypervisor page 0x%llx", m.total, hv_page);
  if (!block) return;
  build_block(base, static_cast<uint32_t>(hv_page));
  auto& rec = *reinterpret_cast<TablesRecord*>(base + AT_RECORD);
  const auto apic_id = static_cast<uint32_t>(info.processor_id);
  const auto vector = static_cast<uint32_t>(base >> 12);
  const LocalApic apic = LocalApic::current();
  const uint64_t triple_before = hypercall(1, ap, kTripleFaultExit).rbx;

  start_ap(bs, apic, apic_id, vector);
  for (unsigned waited = 0; waited < 5000 && !rec.done; ++waited) bs->Stall(1000);
  t.check(rec.done == 1, "tables: the AP ran its GDT and LDT steps and waits", "done %llu, step %llu", rec.done,
          rec.stage);
  const Result& gdt = rec.results[AT_R_GDT];
  t.check(load_faulted(gdt, "GDT", AT_SEL_DATA32, attack_tables_ap_load_es, AT_SEL_LDT_CODE),
          "tables: a GDT in hypervisor memory reads zeros: a segment load there takes #GP(selector) through the AP's "
          "own IDT, and the AP goes on",
          "vector %llu error 0x%llx", gdt.vector, gdt.error);
  const Result& ldt = rec.results[AT_R_LDT];
  t.check(load_faulted(ldt, "LDT", AT_SEL_LDT_CODE, attack_tables_ap_load_es_ldt, AT_SEL_CODE32),
          "tables: an LDT in hypervisor memory reads zeros: a segment load there takes #GP(selector), TI kept, and "
          "the AP goes on",
          "vector %llu error 0x%llx", ldt.vector, ldt.error);
  if (rec.done != 1) return;

  // The IDT step: the AP triple-faults. Nothing is printed until apexvisor has logged it.
  const uint64_t triple = await_triple_fault(bs, rec.go, ap, triple_before);
  say("tables: IDT in hypervisor memory, INT3 at +0x%x: step %u, triple-fault exits %llu, ran on after it %u",
      offset_of(attack_tables_ap_int3), rec.stage, static_cast<unsigned long long>(triple), rec.after_shutdown);
  t.check(rec.stage == AT_STAGE_IDT && triple == 1 && rec.after_shutdown == 0,
          "tables: an IDT in hypervisor memory reads zeros: INT3 ends in a triple fault, the AP in the shutdown "
          "state (one exit, nothing runs on)",
          "triple-fault exits %llu, went on %llu", triple, rec.after_shutdown);
  const uint32_t starts = restart_after_shutdown(bs, apic, apic_id, vector, rec.restart, rec.restarted);
  t.check(starts == 1, "tables: INIT-SIPI-SIPI starts the AP again after that shutdown, as on hardware", "starts %llu",
          starts);
}

}  // namespace guest
