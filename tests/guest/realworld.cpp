// The `realworld` guest program (issue P9): an AP run through the legacy modes a real machine
// or an older OS passes through, which the firmware and the 64-bit OSes apexvisor boots never
// use once it runs, each answered as the hardware (or apexvisor's documented refusal) answers.
// The BSP lends the AP a block below 1 MiB (realworld_layout.h), builds its GDT, IDT, IVT,
// TSSs and PAE page tables there, copies realworld_ap.S's code in and starts the AP with
// INIT-SIPI-SIPI through its local APIC (apexvisor intercepts that, or the CPU delivers it
// as INIT and SIPI exits with init_sipi=native). The AP records what it saw; the BSP prints
// what was seen and one PASS/FAIL line per check, then a tally. The AP ends halted with
// interrupts off, in protected mode, paging off; the program ends the run right after.
//
// Checks, with the architectural answer each compares with:
//   - real mode: RDMSR of a hidden MSR is #GP through the IVT with no error code (IP and CS
//     where the CPU pushes them), and execution goes on (SDM Vol 3A 21.1.4, "real-address
//     mode" exceptions push no error code);
//   - protected mode with the AP's own GDT/IDT: the same RDMSR is #GP(0), error code 0 pushed;
//   - PAE paging entered by a MOV to CR0 that apexvisor emulates: the PDPTEs come from CR3
//     (Vol 3A 4.4.1), a linear alias reads its page's bytes;
//   - a present PDPTE with a reserved bit: that MOV to CR0 is #GP(0), CR0.PG stays 0;
//   - a far JMP to a TSS, a far CALL through a task gate, INT n through an IDT task gate:
//     #TS with the TSS selector as error code, at the instruction: apexvisor's answer to
//     exit 9, as the README's exit table documents it (not emulated, unlike KVM);
//   - IA-32e activation (EFER.LME=1, CR0.PG=1) from a code segment with L=1: #GP(0), EFER.LMA
//     and CR0.PG stay 0 (Vol 2B MOV CR);
//   - apexvisor answered them: exactly the control-register and task-switch exits expected
//     on the AP (hypercall exit_counter), so none of the answers above came from the CPU alone.
#include "arch/cpu.hpp"
#include "tests/guest/ap_trampoline.hpp"
#include "tests/guest/guarded_insn.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/legacy_ap.hpp"
#include "tests/guest/realworld_layout.h"
#include "tests/guest/selftest_checks.hpp"

extern "C" const uint8_t realworld_ap_start[], realworld_ap_end[], realworld_ap_rdmsr_rm[], realworld_ap_rdmsr_pm[],
    realworld_ap_pae_bad[], realworld_ap_jmp_tss[], realworld_ap_call_gate[], realworld_ap_int_gate[],
    realworld_ap_ia32e[];
// Handler offsets in the block: protected-mode vectors 0-31, then the real-mode #GP handler.
extern "C" const uint32_t realworld_ap_vectors[33];

namespace guest {
namespace {

struct Result {
  volatile uint32_t faults, vector, error, eip, value, value2;
};
// What the AP records (offsets: realworld_layout.h, RWR_*).
struct RealworldRecord {
  volatile uint32_t base, stage, done;
  volatile uint32_t rm_gp;
  volatile uint16_t rm_gp_ip, rm_gp_cs;
  volatile uint32_t rm_after;
  volatile uint32_t f_count, f_vector, f_error, f_eip, f_cs, resume;
  volatile uint32_t restart, restarted, after_shutdown, shutdown_go;
  Result results[RW_CHECKS];
};
static_assert(__builtin_offsetof(RealworldRecord, rm_gp_ip) == RWR_RM_GP_IP);
static_assert(__builtin_offsetof(RealworldRecord, rm_after) == RWR_RM_AFTER);
static_assert(__builtin_offsetof(RealworldRecord, resume) == RWR_RESUME);
static_assert(__builtin_offsetof(RealworldRecord, restart) == RWR_RESTART);
static_assert(__builtin_offsetof(RealworldRecord, after_shutdown) == RWR_AFTER_SHUTDOWN);
static_assert(__builtin_offsetof(RealworldRecord, shutdown_go) == RWR_SHUTDOWN_GO);
static_assert(__builtin_offsetof(RealworldRecord, results) == RWR_RESULTS);
static_assert(sizeof(Result) == RW_RESULT_SIZE);
static_assert(RW_RECORD + sizeof(RealworldRecord) <= RW_GDT);

constexpr uint32_t kNoErrorCode = 0xffffffff;
constexpr uint32_t kCr0Pe = 1u << 0, kCr0Pg = 1u << 31;
constexpr uint32_t kEferLme = 1u << 8, kEferLma = 1u << 10;
constexpr uint64_t kTaskSwitchExit = 9, kCrAccessExit = 28;  // basic exit reasons

constexpr uint64_t kPresent = 1, kWritable = 2, kLargePage = 0x80;

template <typename T>
T* at(uint64_t base, uint32_t offset) {
  return reinterpret_cast<T*>(base + offset);
}

// Builds the block at `base` (RW_PAGES pages, zeroed here): the AP's code, its tables and the
// record the BSP reads.
void build_block(uint64_t base) {
  auto* bytes = reinterpret_cast<volatile uint8_t*>(base);
  for (uint32_t i = 0; i < RW_PAGES * 4096u; ++i) bytes[i] = 0;
  const auto size = static_cast<uint32_t>(realworld_ap_end - realworld_ap_start);
  for (uint32_t i = 0; i < size; ++i) bytes[RW_CODE + i] = realworld_ap_start[i];
  const auto b = static_cast<uint32_t>(base);

  uint64_t* gdt = at<uint64_t>(base, RW_GDT);
  gdt[RW_SEL_CODE32 / 8] = segment(b, 0xfffff, kCode, kFlags32);
  gdt[RW_SEL_DATA32 / 8] = segment(b, 0xfffff, kData, kFlags32);
  gdt[RW_SEL_FLAT / 8] = segment(0, 0xfffff, kData, kFlags32);
  gdt[RW_SEL_TSS / 8] = segment(b + RW_TSS_TARGET, 0x67, kTss32, 0);
  gdt[RW_SEL_TASK_GATE / 8] = task_gate(RW_SEL_TSS);
  gdt[RW_SEL_CODE_L / 8] = segment(b, 0xfffff, kCode, kFlags32L);
  gdt[RW_SEL_TR / 8] = segment(b + RW_TSS_TR, 0x67, kTss32, 0);
  auto pseudo = [&](uint32_t offset, uint16_t limit, uint32_t table) {
    pseudo_descriptor(base + offset, limit, table);
  };
  pseudo(RW_GDTR, RW_GDT_ENTRIES * 8 - 1, b + RW_GDT);
  pseudo(RW_PM_IDTR, RW_IDT_VECTORS * 8 - 1, b + RW_IDT);
  pseudo(RW_RM_IDTR, 14 * 4 - 1, b + RW_IVT);

  uint64_t* idt = at<uint64_t>(base, RW_IDT);
  for (uint32_t v = 0; v < 32; ++v) idt[v] = interrupt_gate(RW_SEL_CODE32, realworld_ap_vectors[v]);
  idt[RW_INT_TASK_GATE] = task_gate(RW_SEL_TSS);
  // Real-mode IVT entry 13 (#GP): offset, segment.
  uint16_t* ivt = at<uint16_t>(base, RW_IVT);
  ivt[13 * 2] = static_cast<uint16_t>(realworld_ap_vectors[32]);
  ivt[13 * 2 + 1] = static_cast<uint16_t>(b >> 4);

  // PAE paging: PDPT entry 0 -> PD; PDE 0 maps the first 2 MiB (code, data, stack) to
  // themselves, PDE 1 -> PT, whose entry 0 maps RW_ALIAS_LINEAR to the pattern page.
  uint64_t* good = at<uint64_t>(base, RW_PDPT_GOOD);
  uint64_t* bad = at<uint64_t>(base, RW_PDPT_BAD);
  good[0] = bad[0] = (b + RW_PD) | kPresent;
  bad[2] = (b + RW_PD) | kPresent | kWritable;  // bit 1: reserved in a PAE PDPTE (Vol 3A Table 4-8)
  uint64_t* pd = at<uint64_t>(base, RW_PD);
  pd[0] = 0 | kPresent | kWritable | kLargePage;
  pd[1] = (b + RW_PT) | kPresent | kWritable;
  at<uint64_t>(base, RW_PT)[0] = (b + RW_PATTERN) | kPresent | kWritable;
  uint32_t* pattern = at<uint32_t>(base, RW_PATTERN);
  for (uint32_t i = 0; i < 1024; ++i) pattern[i] = RW_PATTERN_WORD + i;

  auto* rec = at<RealworldRecord>(base, RW_RECORD);
  rec->base = b;
  rec->rm_gp_ip = 0xffff;
  rec->rm_gp_cs = 0xffff;
  // Results the AP never wrote read as this.
  auto* words = reinterpret_cast<volatile uint32_t*>(&rec->results[0]);
  for (uint32_t i = 0; i < sizeof rec->results / 4; ++i) words[i] = 0xa5a5a5a5;
}

uint32_t offset_of(const uint8_t* label) { return static_cast<uint32_t>(label - realworld_ap_start); }

// The line of values behind a check, printed whether it passes or not.
void seen(const char* step, const Result& r) {
  say("realworld: %s: faults %u vector %u error 0x%x eip 0x%x, value 0x%x 0x%x", step, r.faults, r.vector, r.error,
      r.eip, r.value, r.value2);
}

// One fault of `vector` with `error` at the instruction at `label`.
bool faulted(const Result& r, uint32_t vector, uint32_t error, const uint8_t* label) {
  return r.faults == 1 && r.vector == vector && r.error == error && r.eip == offset_of(label);
}

void judge(Tally& t, const RealworldRecord& rec, uint64_t base) {
  const auto segment_of_block = static_cast<uint16_t>(base >> 4);
  say("realworld: real mode: #GPs %u, pushed CS:IP %x:%x (the RDMSR at %x:%x), went on %u", rec.rm_gp, rec.rm_gp_cs,
      rec.rm_gp_ip, segment_of_block, offset_of(realworld_ap_rdmsr_rm), rec.rm_after);
  t.check(rec.rm_gp == 1 && rec.rm_gp_cs == segment_of_block && rec.rm_gp_ip == offset_of(realworld_ap_rdmsr_rm) &&
              rec.rm_after == 1,
          "realworld: real mode: RDMSR of a hidden MSR takes #GP through the IVT, no error code, and goes on",
          "#GPs %llu, went on %llu", rec.rm_gp, rec.rm_after);

  const Result& pm = rec.results[RW_R_PM];
  seen("protected mode", pm);
  t.check((pm.value & (kCr0Pe | kCr0Pg)) == kCr0Pe && (pm.value2 & 0xffff) == RW_SEL_CODE32,
          "realworld: protected mode: the AP runs 32-bit code from its own GDT (CR0.PE=1, CS=0x08)", "cr0 0x%llx cs 0x%llx",
          pm.value, pm.value2);
  t.check(faulted(pm, 13, 0, realworld_ap_rdmsr_pm),
          "realworld: protected mode: RDMSR of a hidden MSR takes #GP(0) through its own IDT, error code pushed",
          "vector %llu error 0x%llx", pm.vector, pm.error);

  const Result& pae = rec.results[RW_R_PAE];
  seen("PAE paging", pae);
  const uint32_t word = RW_PATTERN_WORD + RW_PATTERN_PROBE / 4;
  t.check(pae.faults == 0 && pae.value == word && (pae.value2 & kCr0Pg),
          "realworld: PAE paging: the MOV to CR0 that sets PG loads the PDPTEs from CR3, a linear alias reads its page",
          "read 0x%llx, cr0 0x%llx", pae.value, pae.value2);

  const Result& pdpte = rec.results[RW_R_PDPTE];
  seen("PAE paging, reserved PDPTE bit", pdpte);
  t.check(faulted(pdpte, 13, 0, realworld_ap_pae_bad) && !(pdpte.value & kCr0Pg),
          "realworld: PAE paging: a present PDPTE with a reserved bit makes that MOV to CR0 #GP(0), CR0.PG stays 0",
          "vector %llu error 0x%llx", pdpte.vector, pdpte.error);

  // The README's answer to exit 9 (exit table): #TS, error code the new TSS's selector (EXT 0:
  // the program asked for each switch), at the instruction that asked.
  const Result& jmp = rec.results[RW_R_JMP_TSS];
  seen("far JMP to a TSS", jmp);
  t.check(faulted(jmp, 10, RW_SEL_TSS, realworld_ap_jmp_tss),
          "realworld: task switch: a far JMP to a TSS gets #TS(TSS selector), as the README documents",
          "vector %llu error 0x%llx", jmp.vector, jmp.error);
  const Result& call = rec.results[RW_R_CALL_GATE];
  seen("far CALL through a task gate", call);
  t.check(faulted(call, 10, RW_SEL_TSS, realworld_ap_call_gate),
          "realworld: task switch: a far CALL through a task gate gets #TS(TSS selector), as the README documents",
          "vector %llu error 0x%llx", call.vector, call.error);
  const Result& intn = rec.results[RW_R_INT_GATE];
  seen("INT 0x40 through an IDT task gate", intn);
  t.check(faulted(intn, 10, RW_SEL_TSS, realworld_ap_int_gate),
          "realworld: task switch: INT n through an IDT task gate gets #TS(TSS selector), as the README documents",
          "vector %llu error 0x%llx", intn.vector, intn.error);

  const Result& ia32e = rec.results[RW_R_IA32E];
  seen("IA-32e activation from CS.L=1", ia32e);
  t.check(faulted(ia32e, 13, 0, realworld_ap_ia32e) && (ia32e.value & (kEferLme | kEferLma)) == kEferLme &&
              !(ia32e.value2 & kCr0Pg),
          "realworld: IA-32e activation from a code segment with L=1 takes #GP(0), EFER.LMA and CR0.PG stay 0",
          "efer 0x%llx cr0 0x%llx", ia32e.value, ia32e.value2);
}

// After its last step the AP loads an empty IDT and executes INT3: #GP, then #DF, then a
// triple fault (SDM Vol 3A 6.15). Hardware enters the shutdown state, which only INIT (or an
// NMI) leaves; apexvisor must give the same, not stop the CPU: one triple-fault exit, nothing
// after the INT3 runs, and the OS's INIT-SIPI-SIPI starts the CPU again.
void check_shutdown(Tally& t, EFI_BOOT_SERVICES* bs, RealworldRecord& rec, const LocalApic& apic, uint32_t apic_id,
                    uint32_t vector, UINTN ap) {
  const uint64_t triple = await_triple_fault(bs, rec.shutdown_go, ap, 0);
  say("realworld: shutdown: step %u, triple-fault exits %llu, ran on after it %u", rec.stage,
      static_cast<unsigned long long>(triple), rec.after_shutdown);
  t.check(rec.stage == RW_STAGE_SHUTDOWN && triple == 1 && rec.after_shutdown == 0,
          "realworld: a triple fault (INT3 with an empty IDT) puts the AP in the shutdown state: one exit, nothing runs on",
          "triple-fault exits %llu, went on %llu (step on the line above)", triple, rec.after_shutdown);
  restart_after_shutdown(bs, apic, apic_id, vector, rec.restart, rec.restarted);
  t.check(rec.restarted == 1, "realworld: INIT-SIPI-SIPI starts the AP again after its shutdown, as on hardware",
          "starts %llu", rec.restarted);
}

void run_realworld(Tally& t, EFI_SYSTEM_TABLE* st) {
  EFI_BOOT_SERVICES* bs = st->BootServices;
  MpServices m{};
  if (!find_mp_services(st, &m) || m.total < 2) {
    say("SKIP realworld: no second CPU to run the legacy-mode code on");
    return;
  }
  const UINTN ap = m.self == 0 ? 1 : 0;
  efi::ProcessorInformation info{};
  EFI_STATUS s = m.mp->get_processor_info(m.mp, ap, &info);
  t.check(!EFI_ERROR(s), "realworld: MP services give the AP's APIC id", "status 0x%llx", s);
  if (EFI_ERROR(s)) return;
  const auto apic_id = static_cast<uint32_t>(info.processor_id);

  // Below 1 MiB and below the EBDA/VGA hole (a STARTUP vector is a page number 0x01-0x9f).
  EFI_PHYSICAL_ADDRESS base = 0x9ffff;
  s = bs->AllocatePages(AllocateMaxAddress, EfiLoaderData, RW_PAGES, &base);
  t.check(!EFI_ERROR(s) && base >= 0x1000, "realworld: a block below 1 MiB for the AP's code and tables",
          "status 0x%llx base 0x%llx", s, base);
  if (EFI_ERROR(s) || base < 0x1000) return;
  build_block(base);
  auto& rec = *at<RealworldRecord>(base, RW_RECORD);

  // Exits on the AP (apexvisor's CPU number = MP services' processor number) before the run.
  const uint64_t cr_before = hypercall(1, ap, kCrAccessExit).rbx;
  const uint64_t ts_before = hypercall(1, ap, kTaskSwitchExit).rbx;

  const auto vector = static_cast<uint32_t>(base >> 12);
  const LocalApic apic = LocalApic::current();
  say("realworld: AP APIC id %u, block at 0x%llx (STARTUP vector 0x%x)", apic_id,
      static_cast<unsigned long long>(base), vector);
  start_ap(bs, apic, apic_id, vector);
  for (unsigned waited = 0; waited < 10000 && !rec.done; ++waited) bs->Stall(1000);
  t.check(rec.done == 1, "realworld: the AP ran every step and halted", "done %llu, last step begun %llu", rec.done,
          rec.stage);
  if (rec.stage < RW_STAGE_REAL) return;
  judge(t, rec, base);

  const uint64_t cr_exits = hypercall(1, ap, kCrAccessExit).rbx - cr_before;
  const uint64_t ts_exits = hypercall(1, ap, kTaskSwitchExit).rbx - ts_before;
  say("realworld: exits on the AP: control_register_access %llu, task_switch %llu", static_cast<unsigned long long>(cr_exits),
      static_cast<unsigned long long>(ts_exits));
  // Into protected mode (clearing CD/NW, which apexvisor owns), then PAE on, PAE off, the
  // reserved PDPTE, the IA-32e activation (four MOVs to CR0 that flip NE); three task switches.
  t.check(cr_exits == 5 && ts_exits == 3,
          "realworld: apexvisor answered them: 5 control-register exits and 3 task-switch exits on the AP",
          "control_register_access %llu, task_switch %llu", cr_exits, ts_exits);
  check_shutdown(t, bs, rec, apic, apic_id, vector, ap);
}

}  // namespace
}  // namespace guest

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  guest::init(image, st);
  guest::probes_prepare();
  guest::Tally tally;
  guest::run_realworld(tally, st);
  guest::say("realworld: tally pass=%u fail=%u", tally.pass, tally.fail);
  guest::end_run(tally.fail ? 1 : 0);
}
