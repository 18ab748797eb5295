// Exit reason 28, control-register access: MOV to/from CR0/CR4, CLTS, LMSW (SDM Vol 3C Table
// 28-3; MOV CR rules: Vol 2B "MOV—Move to/from Control Registers", Vol 3A 2.5, 4.1, 10.8.5).
// Each row is one instruction in one guest state; "K" means "as before the exit".
#include "emulate/emulate_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmm/guest_memory/guest_phys_view.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/pae_pdptes.hpp"

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
  uint32_t cs_ar_or = 0;   // bits set in CS's access rights (L, bit 13)
  uint32_t tr_type = 11;   // TR's type: 11, a busy 32/64-bit TSS
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
  f.vmcs.set(VmcsField::guest_cs_access_rights, f.vmcs.get(VmcsField::guest_cs_access_rights) | r.cs_ar_or);
  f.vmcs.set(VmcsField::guest_tr_access_rights, 0x80 | r.tr_type);
  f.vmcs.set(VmcsField::exit_qualification, r.qual);
  for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = 0xbad0000000000000ull | i;  // decoys
  // RSP lives in the VMCS; gpr[4] is only the emulator's mirror, which the exit path does
  // not fill: the decoy stays there, and the handler must use GUEST_RSP.
  // The mirror's decoy holds CR4 bits no guest may set (VMXE, bit 31): a MOV to CR4 from RSP
  // that read it instead of GUEST_RSP would #GP.
  f.vcpu.regs.gpr[RSP] |= cr4::VMXE | (1ull << 31);
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
      {.what = "unpaged, EFER.LME=1, PAE=1, CS.L=1: activating IA-32e mode #GPs", .mode = Mode::prot32_unpaged,
       .qual = mov_to_cr(0, RBX), .value = 0x80000013, .cr4 = cr4::PAE, .efer = efer::LME, .cs_ar_or = 1u << 13,
       .outcome = Outcome::gp},
      {.what = "unpaged, EFER.LME=1, PAE=1, TR a 16-bit busy TSS: activating IA-32e mode #GPs",
       .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX), .value = 0x80000013, .cr4 = cr4::PAE,
       .efer = efer::LME, .tr_type = 3, .outcome = Outcome::gp},
      {.what = "unpaged, EFER.LME=1, PAE=0: setting PG", .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000033, .efer = efer::LME, .outcome = Outcome::gp},
      {.what = "unpaged, PAE=1, LME=0: PAE paging needs the PDPTEs, and this fixture has no guest memory",
       .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX), .value = 0x80000033, .cr4 = cr4::PAE,
       .outcome = Outcome::stop},
      {.what = "unpaged, PAE=0, LME=0: 32-bit paging", .mode = Mode::prot32_unpaged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000013, .cr0_shadow = 0x80000013, .cr0_real = 0x80000033, .efer_after = 0},
      {.what = "legacy PAE paging: CD changes, PDPTEs reload (no guest memory here)", .mode = Mode::prot32_paged,
       .qual = mov_to_cr(0, RBX), .value = 0xc0000033, .cr4 = cr4::PAE, .outcome = Outcome::stop},
      {.what = "legacy PAE paging: NE changes, PDPTEs stay", .mode = Mode::prot32_paged, .qual = mov_to_cr(0, RBX),
       .value = 0x80000013, .cr4 = cr4::PAE, .cr0_shadow = 0x80000013, .cr0_real = 0x80000033},
      {.what = "real mode: set PE (unrestricted guest)", .mode = Mode::real, .qual = mov_to_cr(0, RBX),
       .value = 0x60000011, .cr0_shadow = 0x60000011, .cr0_real = 0x00000031},
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
       .cr0_shadow = 0x60000011, .cr0_real = 0x00000031},
      {.what = "LMSW 0xe in real mode: MP, EM, TS but not PE", .mode = Mode::real, .qual = lmsw(0xe), .value = 0,
       .cr0_shadow = 0x6000001e, .cr0_real = 0x0000003e},
      {.what = "LMSW only loads bits 3:0 of its source", .mode = Mode::real, .qual = lmsw(0xfff0), .value = 0,
       .cr0_shadow = 0x60000010, .cr0_real = 0x00000030},
  };
  for (const Row& r : rows) run(r);
}

// CR0.CD and CR0.NW are owned (vmm/handlers/guest_view.hpp): VM entry cannot load them, so
// the guest's values live in the read shadow and the real CR0 keeps both clear; every
// instruction that writes CR0 must leave the guest's view exactly as hardware would.
TEST_CASE("CR0.CD/NW: the guest's values in the shadow, the real CR0 keeps them clear") {
  const Row rows[] = {
      {.what = "Linux MTRR update, step 1: CD=1 (64-bit)", .mode = Mode::long64, .qual = mov_to_cr(0, RBX),
       .value = 0xc0050033, .cr0_shadow = 0xc0050033, .cr0_real = 0x80050033},
      {.what = "Linux MTRR update, last step: CD=0 again", .mode = Mode::long64, .qual = mov_to_cr(0, RBX),
       .value = 0x80050033, .cr0 = 0xc0050033, .cr0_shadow = 0x80050033, .cr0_real = 0x80050033},
      {.what = "CD=1 NW=1: both in the shadow, neither in the real CR0", .mode = Mode::long64,
       .qual = mov_to_cr(0, RBX), .value = 0xe0050033, .cr0_shadow = 0xe0050033, .cr0_real = 0x80050033},
      {.what = "NW=1 with CD=0, from CD=1 NW=1: #GP(0), nothing changes", .mode = Mode::long64,
       .qual = mov_to_cr(0, RBX), .value = 0xa0050033, .cr0 = 0xe0050033, .outcome = Outcome::gp},
      {.what = "NW=1 with CD=0 in real mode: #GP (no error code)", .mode = Mode::real, .qual = mov_to_cr(0, RBX),
       .value = 0x20000010, .outcome = Outcome::gp},
      {.what = "real mode after INIT: clearing CD and NW (firmware's first step)", .mode = Mode::real,
       .qual = mov_to_cr(0, RBX), .value = 0x00000010, .cr0_shadow = 0x00000010, .cr0_real = 0x00000030},
      {.what = "real mode after INIT: PE=1 keeping CD/NW", .mode = Mode::real, .qual = mov_to_cr(0, RBX),
       .value = 0x60000011, .cr0_shadow = 0x60000011, .cr0_real = 0x00000031},
      {.what = "32-bit paging: CD=1", .mode = Mode::prot32_paged, .qual = mov_to_cr(0, RBX), .value = 0xc0000033,
       .cr0_shadow = 0xc0000033, .cr0_real = 0x80000033},
      {.what = "CLTS keeps CD=1 NW=1", .mode = Mode::long64, .qual = kClts, .value = 0, .cr0 = 0xe005003b,
       .cr0_shadow = 0xe0050033, .cr0_real = 0x80050033},
      {.what = "LMSW keeps CD=1", .mode = Mode::long64, .qual = lmsw(0x3), .value = 0, .cr0 = 0xc0050031,
       .cr0_shadow = 0xc0050033, .cr0_real = 0x80050033},
      {.what = "LMSW in real mode keeps INIT's CD=1 NW=1", .mode = Mode::real, .qual = lmsw(0x1), .value = 0,
       .cr0_shadow = 0x60000011, .cr0_real = 0x00000031},
      {.what = "MOV from CR0 (an exit it never makes) answers the guest's CD/NW", .mode = Mode::real,
       .qual = mov_from_cr(0, RBX), .value = 0x1234, .reg_after = 0x60000010},
  };
  for (const Row& r : rows) run(r);
}

// MOV from CR0 never exits: the CPU itself combines the real CR0 with the read shadow through
// the mask (SDM Vol 3C 26.3). guest_visible_cr0 does the same; with the fixture's real CR0
// (CD=NW=0), the guest must read every combination of its own CD/NW.
TEST_CASE("MOV from CR0 without an exit: every CD/NW the guest wrote reads back") {
  for (const uint64_t view : {0x00000010ull, 0x40000010ull, 0x60000010ull, 0x80050033ull, 0xc0050033ull,
                              0xe0050033ull}) {
    CAPTURE(view);
    HandlerFixture f;
    f.set_mode((view & cr0::PG) ? Mode::long64 : Mode::real);
    f.set_cr0(view);
    f.vmcs.set(VmcsField::cr0_guest_host_mask, vmm::cr0_guest_host_mask(f.policy));  // launch's mask
    CHECK((f.vmcs.get(VmcsField::guest_cr0) & (cr0::CD | cr0::NW)) == 0);
    CHECK(vmm::guest_visible_cr0(f.vmcs) == view);
  }
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
      {.what = "compatibility mode: a reserved bit of 31:0 is #GP in every mode", .mode = Mode::compat32,
       .qual = mov_to_cr(4, RBX), .value = 0xffffffff00000000ull | kLong64Cr4 | (1u << 15), .outcome = Outcome::gp},
      {.what = "real mode: VMXE is #GP too", .mode = Mode::real, .qual = mov_to_cr(4, RBX),
       .value = cr4::OSFXSR | cr4::VMXE, .outcome = Outcome::gp},
      {.what = "from RSP: the value is GUEST_RSP", .mode = Mode::long64, .qual = mov_to_cr(4, RSP),
       .value = kLong64Cr4 | cr4::SMEP, .reg = RSP, .cr4_shadow = kLong64Cr4 | cr4::SMEP,
       .cr4_real = kLong64Cr4 | cr4::SMEP | cr4::VMXE},
      {.what = "from RSP: a reserved bit in GUEST_RSP", .mode = Mode::long64, .qual = mov_to_cr(4, RSP),
       .value = kLong64Cr4 | (1u << 15), .reg = RSP, .outcome = Outcome::gp},
      {.what = "extended form: R17", .mode = Mode::long64, .qual = mov_to_cr(4, 17), .value = kLong64Cr4 | (1u << 15),
       .reg = 17, .form = vmx::ExitInfoForm::extended, .outcome = Outcome::gp},
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
      {.what = "MOV from CR4 into a register holding reserved CR4 bits: no #GP", .mode = Mode::long64,
       .qual = mov_from_cr(4, RBX), .value = cr4::VMXE | (1u << 15), .reg_after = kLong64Cr4},
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

// PAE paging (SDM Vol 3A 4.4.1): a MOV to CR0/CR4 that enters it, or changes CD/NW/PG or
// PAE/PGE/PSE/SMEP under it, loads the four PDPTEs from CR3[31:5] into the VMCS; a present
// PDPTE with a reserved bit makes it #GP(0) with nothing changed.
TEST_CASE("PAE paging: MOV CR0/CR4 loads the PDPTEs from the guest's CR3, or #GPs on a reserved bit") {
  constexpr uint64_t kPdpt = 0x7fe0;  // 32-byte aligned, not page aligned: CR3 bits 11:5 count
  constexpr uint64_t kGood[4] = {0x00101001, 0x00102001, 0, 0x0000000fffff3001ull};  // the last: bit 35 (MAXPHYADDR 36)
  struct Case {
    const char* what;
    uint64_t pdpte2;        // the third entry (the others are kGood's)
    uint8_t max_phys_bits;  // the processor's, as the policy says
    bool map_table;         // the PDPT lies in guest RAM (else: reads as all ones)
    Outcome outcome;
  };
  const Case cases[] = {
      {"valid entries, one not present", 0, 36, true, Outcome::advance},
      {"not present: reserved bits do not matter", 0xfff0000000000006ull, 36, true, Outcome::advance},
      {"present with bit 1 (reserved)", 0x00103003, 36, true, Outcome::gp},
      {"present with bit 5 (reserved: no A bit in a PDPTE)", 0x00103021, 36, true, Outcome::gp},
      {"present with bit 63 (XD is reserved in a PDPTE)", 0x8000000000103001ull, 36, true, Outcome::gp},
      {"present, address bit 36 with MAXPHYADDR 36", 0x0000001000103001ull, 36, true, Outcome::gp},
      {"present, address bit 36 with MAXPHYADDR 40", 0x0000001000103001ull, 40, true, Outcome::advance},
      {"the PDPT is not memory: all ones, present with reserved bits", 0, 36, false, Outcome::gp},
  };
  enum class Insn { cr0_pg_on, cr4_pge_toggle };
  for (Insn insn : {Insn::cr0_pg_on, Insn::cr4_pge_toggle})
    for (const Case& c : cases) {
      CAPTURE(c.what, insn == Insn::cr0_pg_on ? "MOV CR0 sets PG" : "MOV CR4 sets PGE under PAE paging");
      HandlerFixture f;
      emu_test::FakePhys phys;
      vmm::guest_memory::GuestPhysView view{&phys, nullptr, exit_now};
      if (c.map_table) {
        for (unsigned i = 0; i < 4; ++i) phys.poke64(kPdpt + 8 * i, i == 2 ? c.pdpte2 : kGood[i]);
        f.policy.guest_ram = &view;
      } else {
        f.policy.guest_ram = &view;  // nothing mapped at kPdpt
      }
      f.policy.max_phys_bits = c.max_phys_bits;
      f.set_masks();
      const VmcsField pdpte[] = {VmcsField::guest_pdpte0, VmcsField::guest_pdpte1, VmcsField::guest_pdpte2,
                                 VmcsField::guest_pdpte3};
      for (VmcsField p : pdpte) f.vmcs.set(p, 0x5a5a);  // stale
      if (insn == Insn::cr0_pg_on) {
        f.set_mode(Mode::prot32_unpaged);
        f.set_cr4(cr4::PAE);
        f.vmcs.set(VmcsField::exit_qualification, mov_to_cr(0, RBX));
        f.vcpu.regs.gpr[RBX] = 0x80000033;
      } else {
        f.set_mode(Mode::prot32_paged);
        f.set_cr4(cr4::PAE);
        f.vmcs.set(VmcsField::exit_qualification, mov_to_cr(4, RBX));
        f.vcpu.regs.gpr[RBX] = cr4::PAE | cr4::PGE;
      }
      f.vmcs.set(VmcsField::guest_cr3, kPdpt | 0x1f);  // bits 4:0 are not part of the address
      const uint64_t cr0_before = f.vmcs.get(VmcsField::cr0_read_shadow);
      const uint64_t cr4_before = f.vmcs.get(VmcsField::cr4_read_shadow);
      CHECK(outcome_of(f.exit(ExitReason::control_register_access)) == c.outcome);
      for (unsigned i = 0; i < 4; ++i) {
        CAPTURE(i);
        const uint64_t want = c.outcome == Outcome::advance ? (i == 2 ? c.pdpte2 : kGood[i]) : 0x5a5a;
        CHECK(f.vmcs.get(pdpte[i]) == want);
      }
      if (c.outcome == Outcome::gp) {
        CHECK(f.vmcs.get(VmcsField::cr0_read_shadow) == cr0_before);
        CHECK(f.vmcs.get(VmcsField::cr4_read_shadow) == cr4_before);
      }
    }
  CHECK(vmm::pdpte_reserved_mask(0) == 0xfff00000000001e6ull);
  CHECK(vmm::pdpte_reserved_mask(52) == 0xfff00000000001e6ull);
  CHECK(vmm::pdpte_reserved_mask(36) == 0xfffffff0000001e6ull);
}

// CR0 at launch (vmm/launch/launch.cpp): the mask owns the VMX-fixed bits and CD/NW, the
// guest's view is the firmware's CR0 as it stood (CD/NW included), the real CR0 has the fixed
// bits forced and CD/NW clear. One row per CPU kind / firmware state.
TEST_CASE("CR0 at launch: mask, read shadow and real CR0 from the firmware's CR0") {
  struct LaunchRow {
    const char* what;
    uint64_t fixed0, fixed1;
    bool unrestricted;
    uint64_t firmware, mask, shadow, real;
  };
  const LaunchRow rows[] = {
      {"usual: PE NE PG fixed, unrestricted guest, caches on", kCr0Fixed0, 0xffffffff, true, 0x80010033,
       0x60000020, 0x80010033, 0x80010033},
      {"firmware with CD=1: the guest sees it, the real CR0 clears it", kCr0Fixed0, 0xffffffff, true, 0xc0010033,
       0x60000020, 0xc0010033, 0x80010033},
      {"firmware with CD=1 NW=1", kCr0Fixed0, 0xffffffff, true, 0xe0010033, 0x60000020, 0xe0010033, 0x80010033},
      {"firmware with NE=0: the guest keeps it, the real CR0 forces it", kCr0Fixed0, 0xffffffff, true, 0x80010013,
       0x60000020, 0x80010013, 0x80010033},
      {"no unrestricted guest: PE and PG owned too", kCr0Fixed0, 0xffffffff, false, 0x80010033, 0xe0000021,
       0x80010033, 0x80010033},
      {"FIXED1 without CD/NW: owned all the same", kCr0Fixed0, 0x9fffffff, true, 0x80010033, 0x60000020,
       0x80010033, 0x80010033},
  };
  for (const LaunchRow& r : rows) {
    CAPTURE(r.what);
    vmm::GuestPolicy p{};
    p.cr0_fixed0 = r.fixed0;
    p.cr0_fixed1 = r.fixed1;
    p.unrestricted_guest = r.unrestricted;
    const vmm::LaunchCr0 c = vmm::launch_cr0(p, r.firmware);
    CHECK(c.mask == r.mask);
    CHECK(vmm::cr0_guest_host_mask(p) == r.mask);
    CHECK(c.shadow == r.shadow);
    CHECK(c.real == r.real);
  }
}
