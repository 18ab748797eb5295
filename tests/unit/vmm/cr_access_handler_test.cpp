// Exit reason 28, control-register access: MOV to/from CR0/CR4, CLTS, LMSW (SDM Vol 3C Table
// 28-3; MOV CR rules: Vol 2B "MOV—Move to/from Control Registers", Vol 3A 2.5, 4.1, 10.8.5).
// Each row is one instruction in one guest state; "K" means "as before the exit".
#include "handler_fixture.hpp"

using namespace vmm_test;
using vmx::ExitReason;

namespace {

constexpr uint64_t K = 0x5eed5eed5eed5eedull;  // "keep": the row does not set / expects no change

// Exit qualification, Table 28-3.
constexpr uint64_t mov_to_cr(unsigned cr, unsigned gpr) { return cr | (uint64_t{gpr} << 8); }
constexpr uint64_t mov_from_cr(unsigned cr, unsigned gpr) { return cr | 0x10 | (uint64_t{gpr} << 8); }
constexpr uint64_t kClts = 0x20;
constexpr uint64_t lmsw(uint16_t source) { return 0x30 | (uint64_t{source} << 16); }

constexpr unsigned RBX = 3, RSP = 4;
constexpr uint64_t kLong64Cr4 = cr4::PAE | cr4::PGE | cr4::OSFXSR | cr4::OSXMMEXCPT | cr4::OSXSAVE;  // 0x406a0
constexpr uint64_t kLongEfer = efer::SCE | efer::LME | efer::LMA | efer::NXE;                        // 0xd01

struct Row {
  const char* what;
  Mode mode;
  uint64_t qual;
  uint64_t value;  // put in the register the qualification names
  unsigned reg = RBX;
  uint64_t cr0 = K, cr4 = K, efer = K, cr3 = 0;
  bool unrestricted = true;
  vmx::ExitInfoForm form = vmx::ExitInfoForm::legacy;
  Outcome outcome = Outcome::advance;
  uint64_t cr0_shadow = K, cr0_real = K, cr4_shadow = K, cr4_real = K, efer_after = K;
  uint64_t reg_after = K;  // MOV from CR: the destination register
};

void run(const Row& r) {
  CAPTURE(r.what);
  HandlerFixture f;
  f.policy.unrestricted_guest = r.unrestricted;
  f.policy.exit_info_form = r.form;
  f.set_masks();
  f.set_mode(r.mode);
  if (r.cr0 != K) f.set_cr0(r.cr0);
  if (r.cr4 != K) f.set_cr4(r.cr4);
  if (r.efer != K) f.set_efer(r.efer);
  f.vmcs.set(VmcsField::guest_cr3, r.cr3);
  f.vmcs.set(VmcsField::exit_qualification, r.qual);
  for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = 0xbad0000000000000ull | i;  // decoys
  // RSP lives in the VMCS; gpr[4] is only the emulator's mirror, which the exit path does
  // not fill: the decoy stays there, and the handler must use GUEST_RSP.
  f.vmcs.set(VmcsField::guest_rsp, 0xbad0000000000000ull | RSP);
  if (r.reg == RSP) f.vmcs.set(VmcsField::guest_rsp, r.value);
  else f.vcpu.regs.gpr[r.reg] = r.value;

  const uint64_t before[] = {f.vmcs.get(VmcsField::cr0_read_shadow), f.vmcs.get(VmcsField::guest_cr0),
                             f.vmcs.get(VmcsField::cr4_read_shadow), f.vmcs.get(VmcsField::guest_cr4),
                             f.vmcs.get(VmcsField::guest_ia32_efer)};
  const uint64_t expect[] = {r.cr0_shadow, r.cr0_real, r.cr4_shadow, r.cr4_real, r.efer_after};
  const VmcsField fields[] = {VmcsField::cr0_read_shadow, VmcsField::guest_cr0, VmcsField::cr4_read_shadow,
                              VmcsField::guest_cr4, VmcsField::guest_ia32_efer};

  const Outcome o = outcome_of(f.exit(ExitReason::control_register_access));
  CHECK(o == r.outcome);
  for (unsigned i = 0; i < 5; ++i) {
    CAPTURE(vmx::vmcs_field_name(fields[i]));
    CHECK(f.vmcs.get(fields[i]) == (expect[i] == K ? before[i] : expect[i]));
  }
  // VM entry requires "IA-32e mode guest" = EFER.LMA (SDM Vol 3C 27.3.1.1).
  const bool lma = f.vmcs.get(VmcsField::guest_ia32_efer) & efer::LMA;
  CHECK(((f.vmcs.get(VmcsField::vm_entry_controls) & vmx::entry_ctl::ia32e_mode_guest) != 0) == lma);
  const uint64_t reg_now = r.reg == RSP ? f.vmcs.get(VmcsField::guest_rsp) : f.vcpu.regs.gpr[r.reg];
  CHECK(reg_now == (r.reg_after == K ? r.value : r.reg_after));
  CHECK(f.advanced() == (o == Outcome::advance));
  // #GP pushes an error code only in protected mode: in real mode the deliver bit would fail
  // VM entry (vmm/event_injection.hpp). The mode is the one the guest had at the exit.
  const bool pe_at_exit = before[1] & cr0::PE;
  CHECK(f.injected() == (o == Outcome::gp ? (pe_at_exit ? kInjectGp : kInjectGpRealMode) : 0));
}

}  // namespace

TEST_CASE("MOV to CR0") {
  const Row rows[] = {
      {.what = "64-bit: the guest clears NE (owned): it reads 0, the real CR0 keeps 1", .mode = Mode::long64,
       .qual = mov_to_cr(0, RBX), .value = 0x80050013, .cr0_shadow = 0x80050013, .cr0_real = 0x80050033},
      {.what = "bits 63:32 set", .mode = Mode::long64, .qual = mov_to_cr(0, RBX), .value = 0x180050033,
       .outcome = Outcome::gp},
      {.what = "NW without CD", .mode = Mode::long64, .qual = mov_to_cr(0, RBX), .value = 0xa0050033,
       .outcome = Outcome::gp},
      {.what = "PG without PE", .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX), .value = 0x80000032,
       .outcome = Outcome::gp},
      {.what = "clear PG in 64-bit mode", .mode = Mode::long64, .qual = mov_to_cr(0, RBX), .value = 0x00050033,
       .outcome = Outcome::gp},
      {.what = "reserved bits 31:0 are ignored, ET reads 1", .mode = Mode::long64, .qual = mov_to_cr(0, RBX),
       .value = 0x80050063, .cr0_shadow = 0x80050033, .cr0_real = 0x80050033},
      {.what = "clear WP with CR4.CET=1", .mode = Mode::long64, .qual = mov_to_cr(0, RBX), .value = 0x80040033,
       .cr4 = kLong64Cr4 | cr4::CET, .outcome = Outcome::gp},
      {.what = "clear WP with CR4.CET=0", .mode = Mode::long64, .qual = mov_to_cr(0, RBX), .value = 0x80040013,
       .cr0_shadow = 0x80040013, .cr0_real = 0x80040033},
      {.what = "compatibility mode: 32-bit operand; clearing PG leaves IA-32e mode", .mode = Mode::compat32,
       .qual = mov_to_cr(0, RBX), .value = 0xdeadbeef00050013, .cr0_shadow = 0x00050013, .cr0_real = 0x00050033,
       .efer_after = kLongEfer & ~efer::LMA},
      {.what = "compatibility mode: clear PG with CR4.PCIDE=1", .mode = Mode::compat32, .qual = mov_to_cr(0, RBX),
       .value = 0x00050033, .cr4 = kLong64Cr4 | cr4::PCIDE, .outcome = Outcome::gp},
      {.what = "unpaged, EFER.LME=1, PAE=1: setting PG activates IA-32e mode", .mode = Mode::prot32_unpaged,
       .qual = mov_to_cr(0, RBX), .value = 0x80000013, .cr4 = cr4::PAE, .efer = efer::LME,
       .cr0_shadow = 0x80000013, .cr0_real = 0x80000033, .efer_after = efer::LME | efer::LMA},
      {.what = "unpaged, EFER.LME=1, PAE=0: setting PG", .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000033, .efer = efer::LME, .outcome = Outcome::gp},
      {.what = "unpaged, PAE=1, LME=0: PAE paging needs the PDPTEs loaded", .mode = Mode::prot32_unpaged,
       .qual = mov_to_cr(0, RBX), .value = 0x80000033, .cr4 = cr4::PAE, .outcome = Outcome::stop},
      {.what = "unpaged, PAE=0, LME=0: 32-bit paging", .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000013, .cr0_shadow = 0x80000013, .cr0_real = 0x80000033, .efer_after = 0},
      {.what = "legacy PAE paging: CD changes, PDPTEs would reload", .mode = Mode::prot32_paged,
       .qual = mov_to_cr(0, RBX), .value = 0xc0000033, .cr4 = cr4::PAE, .outcome = Outcome::stop},
      {.what = "legacy PAE paging: NE changes, PDPTEs stay", .mode = Mode::prot32_paged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000013, .cr4 = cr4::PAE, .cr0_shadow = 0x80000013, .cr0_real = 0x80000033},
      {.what = "real mode: set PE (unrestricted guest)", .mode = Mode::real, .qual = mov_to_cr(0, RBX),
       .value = 0x60000011, .cr0_shadow = 0x60000011, .cr0_real = 0x60000031},
      {.what = "real mode: PG without PE", .mode = Mode::real, .qual = mov_to_cr(0, RBX), .value = 0xe0000010,
       .outcome = Outcome::gp},
      {.what = "protected to real mode: clear PE (unrestricted guest)", .mode = Mode::prot32_unpaged,
       .qual = mov_to_cr(0, RBX), .value = 0x00000012, .cr0_shadow = 0x00000012, .cr0_real = 0x00000032},
      {.what = "without unrestricted guest, leaving paging stops", .mode = Mode::compat32, .qual = mov_to_cr(0, RBX),
       .value = 0x00050033, .unrestricted = false, .outcome = Outcome::stop},
      {.what = "legacy form: register bits 11:8 only (bit 12 is not part of it)", .mode = Mode::long64,
       .qual = mov_to_cr(0, 17), .value = 0x80050013, .reg = 1, .cr0_shadow = 0x80050013, .cr0_real = 0x80050033},
      {.what = "extended form (APX host): bits 12:8 name R17", .mode = Mode::long64, .qual = mov_to_cr(0, 17),
       .value = 0x80050013, .reg = 17, .form = vmx::ExitInfoForm::extended, .cr0_shadow = 0x80050013,
       .cr0_real = 0x80050033},
      {.what = "source RSP: GUEST_RSP, not the stale mirror in gpr[4]", .mode = Mode::long64, .qual = mov_to_cr(0, RSP),
       .value = 0x80050013, .reg = RSP, .cr0_shadow = 0x80050013, .cr0_real = 0x80050033},
  };
  for (const Row& r : rows) run(r);
}

TEST_CASE("CLTS and LMSW") {
  const Row rows[] = {
      {.what = "CLTS clears TS", .mode = Mode::long64, .qual = kClts, .value = 0, .cr0 = 0x8005003b,
       .cr0_shadow = 0x80050033, .cr0_real = 0x80050033},
      {.what = "CLTS keeps the guest's NE=0 view", .mode = Mode::long64, .qual = kClts, .value = 0,
       .cr0 = 0x8005001b, .cr0_shadow = 0x80050013, .cr0_real = 0x80050033},
      {.what = "LMSW 0 cannot clear PE; MP, EM, TS cleared", .mode = Mode::long64, .qual = lmsw(0), .value = 0,
       .cr0 = 0x8005003f, .cr0_shadow = 0x80050031, .cr0_real = 0x80050031},
      {.what = "LMSW 1 in real mode sets PE", .mode = Mode::real, .qual = lmsw(1), .value = 0,
       .cr0_shadow = 0x60000011, .cr0_real = 0x60000031},
      {.what = "LMSW 0xe in real mode: MP, EM, TS but not PE", .mode = Mode::real, .qual = lmsw(0xe), .value = 0,
       .cr0_shadow = 0x6000001e, .cr0_real = 0x6000003e},
      {.what = "LMSW only loads bits 3:0 of its source", .mode = Mode::real, .qual = lmsw(0xfff0), .value = 0,
       .cr0_shadow = 0x60000010, .cr0_real = 0x60000030},
  };
  for (const Row& r : rows) run(r);
}

TEST_CASE("MOV to CR4") {
  const Row rows[] = {
      {.what = "VMXE=1: VMX is hidden", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::VMXE, .outcome = Outcome::gp},
      {.what = "bit 15: not allowed by CR4_FIXED1", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | (1u << 15), .outcome = Outcome::gp},
      {.what = "bit 24 (PKS): this CPU lacks it", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::PKS, .outcome = Outcome::gp},
      {.what = "bit 32", .mode = Mode::long64, .qual = mov_to_cr(4, RBX), .value = kLong64Cr4 | (1ull << 32),
       .outcome = Outcome::gp},
      {.what = "clear PAE in IA-32e mode", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 & ~cr4::PAE, .outcome = Outcome::gp},
      {.what = "toggle LA57 in IA-32e mode", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::LA57, .outcome = Outcome::gp},
      {.what = "set PCIDE with CR3[11:0] != 0", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::PCIDE, .cr3 = 0x1005, .outcome = Outcome::gp},
      {.what = "set PCIDE with CR3[11:0] = 0", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::PCIDE, .cr3 = 0x1000, .cr4_shadow = kLong64Cr4 | cr4::PCIDE,
       .cr4_real = kLong64Cr4 | cr4::PCIDE | cr4::VMXE},
      {.what = "PCIDE already 1: CR3 low bits are PCID", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::PCIDE | cr4::SMEP, .cr4 = kLong64Cr4 | cr4::PCIDE, .cr3 = 0x1005,
       .cr4_shadow = kLong64Cr4 | cr4::PCIDE | cr4::SMEP, .cr4_real = kLong64Cr4 | cr4::PCIDE | cr4::SMEP | cr4::VMXE},
      {.what = "set PCIDE outside IA-32e mode", .mode = Mode::prot32_paged, .qual = mov_to_cr(4, RBX),
       .value = cr4::PSE | cr4::PCIDE, .outcome = Outcome::gp},
      {.what = "set CET with CR0.WP=0", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::CET, .cr0 = 0x80040033, .outcome = Outcome::gp},
      {.what = "set CET with CR0.WP=1", .mode = Mode::long64, .qual = mov_to_cr(4, RBX),
       .value = kLong64Cr4 | cr4::CET, .cr4_shadow = kLong64Cr4 | cr4::CET,
       .cr4_real = kLong64Cr4 | cr4::CET | cr4::VMXE},
      {.what = "compatibility mode: 32-bit operand", .mode = Mode::compat32, .qual = mov_to_cr(4, RBX),
       .value = 0xffffffff00000000ull | kLong64Cr4 | cr4::SMEP, .cr4_shadow = kLong64Cr4 | cr4::SMEP,
       .cr4_real = kLong64Cr4 | cr4::SMEP | cr4::VMXE},
      {.what = "32-bit paging: setting PAE enters PAE paging (PDPTEs)", .mode = Mode::prot32_paged,
       .qual = mov_to_cr(4, RBX), .value = cr4::PSE | cr4::PAE, .outcome = Outcome::stop},
      {.what = "legacy PAE paging: OSFXSR is not a PDPTE bit", .mode = Mode::prot32_paged, .qual = mov_to_cr(4, RBX),
       .value = cr4::PAE | cr4::OSFXSR, .cr4 = cr4::PAE, .cr4_shadow = cr4::PAE | cr4::OSFXSR,
       .cr4_real = cr4::PAE | cr4::OSFXSR | cr4::VMXE},
      {.what = "real mode: set OSFXSR", .mode = Mode::real, .qual = mov_to_cr(4, RBX), .value = cr4::OSFXSR,
       .cr4_shadow = cr4::OSFXSR, .cr4_real = cr4::OSFXSR | cr4::VMXE},
  };
  for (const Row& r : rows) run(r);
}

TEST_CASE("MOV from CR0/CR4 returns the guest's view; CR3/CR8 exits stop") {
  const Row rows[] = {
      {.what = "MOV from CR0: NE as the guest wrote it", .mode = Mode::long64, .qual = mov_from_cr(0, RBX),
       .value = 0x1234, .cr0 = 0x80050013, .reg_after = 0x80050013},
      {.what = "MOV from CR4: VMXE hidden", .mode = Mode::long64, .qual = mov_from_cr(4, RBX), .value = 0x1234,
       .reg_after = kLong64Cr4},
      {.what = "MOV from CR4 in compatibility mode: zero-extended", .mode = Mode::compat32,
       .qual = mov_from_cr(4, RBX), .value = ~0ull, .reg_after = kLong64Cr4},
      {.what = "MOV from CR4 to RSP: written to GUEST_RSP", .mode = Mode::long64, .qual = mov_from_cr(4, RSP),
       .value = 0x7000, .reg = RSP, .reg_after = kLong64Cr4},
      {.what = "MOV to CR3 (CR3-load exiting is off)", .mode = Mode::long64, .qual = mov_to_cr(3, RBX),
       .value = 0x1000, .outcome = Outcome::stop},
      {.what = "MOV from CR3 (CR3-store exiting is off)", .mode = Mode::long64, .qual = mov_from_cr(3, RBX),
       .value = 0x1000, .outcome = Outcome::stop},
      {.what = "MOV to CR8 (CR8-load exiting is off)", .mode = Mode::long64, .qual = mov_to_cr(8, RBX), .value = 0,
       .outcome = Outcome::stop},
  };
  for (const Row& r : rows) run(r);
}
