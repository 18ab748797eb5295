// Exit reasons 3 (INIT) and 4 (SIPI): wait-for-SIPI, then the post-INIT real-mode state
// (SDM Vol 3A Table 10-1, INIT column; Vol 3C 25.4.2 activity states).
#include <string>

#include "handler_fixture.hpp"
#include "vmm/apic/ap_runtime.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/reset_state.hpp"
#include "vmm/log/log.hpp"

using namespace vmm_test;
using vmx::ExitReason;

namespace {
constexpr uint64_t kActivityWaitForSipi = 3;
}

TEST_CASE("INIT: the vCPU waits for a SIPI with nothing blocked and nothing pending") {
  struct Row {
    const char* what;
    uint64_t interruptibility;
    bool nmi_pending;
    bool nmi_window;
  };
  const Row rows[] = {
      {"plain", 0, false, false},
      {"blocking by SMI (Bochs 2.7)", 1u << 2, false, false},
      {"blocking by STI and MOV SS", 0x3, false, false},
      {"blocking by NMI, an NMI pending, its window open", 1u << 3, true, true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.vmcs.set(VmcsField::guest_interruptibility_state, r.interruptibility);
    if (r.nmi_pending) f.vcpu.pending.set(vmm::pending::nmi);
    uint64_t proc = f.vmcs.get(VmcsField::primary_processor_based_controls);
    if (r.nmi_window) f.vmcs.set(VmcsField::primary_processor_based_controls, proc | vmx::proc::nmi_window_exiting);
    CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
    CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
    CHECK(f.vmcs.get(VmcsField::guest_activity_state) == kActivityWaitForSipi);
    CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) == 0);
    CHECK_FALSE(f.vcpu.pending.has(vmm::pending::nmi));
    CHECK(f.vmcs.get(VmcsField::primary_processor_based_controls) == proc);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
    CHECK(f.injected() == 0);
  }
}

TEST_CASE("INIT while already waiting for SIPI is a no-op (Bochs 2.7 repeats INIT)") {
  HandlerFixture f;
  f.exit(ExitReason::init_signal);
  const unsigned writes = f.vmcs.writes();
  f.vmcs.set(VmcsField::guest_interruptibility_state, 1u << 2);  // whatever the CPU left there
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vmcs.writes() == writes);
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
}

TEST_CASE("SIPI to a CPU that is not waiting is ignored") {
  HandlerFixture f;
  f.vmcs.set(VmcsField::exit_qualification, 0x9f);
  const unsigned writes = f.vmcs.writes();
  CHECK(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::resume);
  CHECK(f.vmcs.writes() == writes);
  CHECK(f.vcpu.state == vmm::VcpuState::active);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
}

TEST_CASE("SIPI: CS:IP from the vector, real mode at 000VV000H") {
  struct Row {
    uint64_t qualification;
    uint64_t selector, base;
  };
  const Row rows[] = {
      {0x00, 0x0000, 0x00000},
      {0x08, 0x0800, 0x08000},
      {0x9f, 0x9f00, 0x9f000},
      {0xff, 0xff00, 0xff000},
      {0xfffffff10, 0x1000, 0x10000},  // only bits 7:0 are the vector
  };
  for (const Row& r : rows) {
    CAPTURE(r.qualification);
    HandlerFixture f;
    f.exit(ExitReason::init_signal);
    f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    CHECK(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::resume);
    CHECK(f.vmcs.get(VmcsField::guest_cs_selector) == r.selector);
    CHECK(f.vmcs.get(VmcsField::guest_cs_base) == r.base);
    CHECK(f.vmcs.get(VmcsField::guest_rip) == 0);
    CHECK(f.vcpu.state == vmm::VcpuState::active);
  }
}

TEST_CASE("SIPI loads the post-INIT state: one row per VMCS field") {
  HandlerFixture f;  // starts as a 64-bit kernel
  f.vmcs.set(VmcsField::guest_cr3, 0x1234000);
  f.vmcs.set(VmcsField::guest_dr7, 0x455);
  f.vmcs.set(VmcsField::guest_pending_debug_exceptions, 0x4000);
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x10);
  REQUIRE(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::resume);
  REQUIRE(f.applied);

  struct Row {
    VmcsField field;
    uint64_t value;
  };
  const Row rows[] = {
      {VmcsField::guest_cs_selector, 0x1000},
      {VmcsField::guest_cs_base, 0x10000},
      {VmcsField::guest_cs_limit, 0xffff},
      {VmcsField::guest_cs_access_rights, 0x9b},
      {VmcsField::guest_ss_selector, 0},
      {VmcsField::guest_ss_base, 0},
      {VmcsField::guest_ss_limit, 0xffff},
      {VmcsField::guest_ss_access_rights, 0x93},
      {VmcsField::guest_ds_selector, 0},
      {VmcsField::guest_ds_base, 0},
      {VmcsField::guest_ds_limit, 0xffff},
      {VmcsField::guest_ds_access_rights, 0x93},
      {VmcsField::guest_es_selector, 0},
      {VmcsField::guest_es_base, 0},
      {VmcsField::guest_es_limit, 0xffff},
      {VmcsField::guest_es_access_rights, 0x93},
      {VmcsField::guest_fs_selector, 0},
      {VmcsField::guest_fs_base, 0},
      {VmcsField::guest_fs_limit, 0xffff},
      {VmcsField::guest_fs_access_rights, 0x93},
      {VmcsField::guest_gs_selector, 0},
      {VmcsField::guest_gs_base, 0},
      {VmcsField::guest_gs_limit, 0xffff},
      {VmcsField::guest_gs_access_rights, 0x93},
      {VmcsField::guest_ldtr_selector, 0},
      {VmcsField::guest_ldtr_base, 0},
      {VmcsField::guest_ldtr_limit, 0xffff},
      {VmcsField::guest_ldtr_access_rights, 0x82},
      {VmcsField::guest_tr_selector, 0},
      {VmcsField::guest_tr_base, 0},
      {VmcsField::guest_tr_limit, 0xffff},
      {VmcsField::guest_tr_access_rights, 0x8b},
      {VmcsField::guest_gdtr_base, 0},
      {VmcsField::guest_gdtr_limit, 0xffff},
      {VmcsField::guest_idtr_base, 0},
      {VmcsField::guest_idtr_limit, 0xffff},
      {VmcsField::guest_rip, 0},
      {VmcsField::guest_rsp, 0},
      {VmcsField::guest_rflags, 0x2},
      {VmcsField::guest_dr7, 0x400},
      {VmcsField::cr0_read_shadow, 0x60000010},              // what the guest reads
      {VmcsField::guest_cr0, 0x00000030},                    // + NE (fixed), PE/PG 0 (unrestricted), CD/NW 0
      {VmcsField::cr4_read_shadow, 0},
      {VmcsField::guest_cr4, cr4::VMXE},                     // VMXE stays, hidden by the shadow
      {VmcsField::guest_cr3, 0},
      {VmcsField::guest_ia32_efer, 0},
      {VmcsField::vm_entry_controls, vmx::entry_ctl::load_ia32_efer | vmx::entry_ctl::load_ia32_pat},  // no IA-32e
      {VmcsField::guest_activity_state, 0},
      {VmcsField::guest_interruptibility_state, 0},
      {VmcsField::guest_pending_debug_exceptions, 0},
      {VmcsField::vm_entry_interruption_info, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(vmx::vmcs_field_name(r.field));
    CHECK(f.vmcs.get(r.field) == r.value);
  }
}

TEST_CASE("SIPI: all 32 GPRs are zero except EDX = CPUID.1:EAX (R16..R31 too, as KVM); XCR0 is kept") {
  HandlerFixture f;
  for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = 0x1111111111111111ull * (i % 15 + 1);
  f.vcpu.xstate.xcr0 = 0x7;
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x10);
  f.exit(ExitReason::startup_ipi);
  for (unsigned i = 0; i < 32; ++i) {
    CAPTURE(arch::gpr_name(i, arch::GprWidth::b64));
    uint64_t expect = i == 2 ? kSignature : 0;
    CHECK(f.vcpu.regs.gpr[i] == expect);
  }
  CHECK(f.vcpu.xstate.xcr0 == 0x7);
}

TEST_CASE("SIPI: the guest's CR0 view keeps the fixed bits only in the real CR0, per CPU; CD/NW only in the view") {
  struct Row {
    const char* what;
    uint64_t cr0_fixed0, cr0_fixed1;
    uint64_t real_cr0;
  };
  const Row rows[] = {
      {"usual: PE, NE, PG fixed", kCr0Fixed0, 0xffffffff, 0x00000030},
      {"CD/NW not allowed by FIXED1", kCr0Fixed0, 0x9fffffff, 0x00000030},
      {"nothing fixed beyond PE/PG", cr0::PE | cr0::PG, 0xffffffff, 0x00000010},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    f.policy.cr0_fixed0 = r.cr0_fixed0;
    f.policy.cr0_fixed1 = r.cr0_fixed1;
    f.exit(ExitReason::init_signal);
    f.exit(ExitReason::startup_ipi);
    CHECK(f.vmcs.get(VmcsField::cr0_read_shadow) == vmm::kCr0AfterInit);
    CHECK(f.vmcs.get(VmcsField::guest_cr0) == r.real_cr0);
  }
}

TEST_CASE("SIPI without unrestricted guest stops: real mode cannot be entered") {
  HandlerFixture f;
  f.policy.unrestricted_guest = false;
  f.exit(ExitReason::init_signal);
  const vmm::ExitAction a = f.exit(ExitReason::startup_ipi);
  CHECK(outcome_of(a) == Outcome::stop);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x1000);
  CHECK(f.vmcs.get(VmcsField::guest_cs_access_rights) == 0xa09b);  // untouched
}

TEST_CASE("SIPI: a failed VMWRITE stops the guest") {
  HandlerFixture f;
  f.exit(ExitReason::init_signal);
  f.vmcs.mark_unsupported(VmcsField::guest_tr_access_rights);
  CHECK(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::stop);
}

TEST_CASE("Bochs 2.7 sequence INIT, INIT, SIPI, SIPI: the first SIPI starts, the second is ignored") {
  HandlerFixture f;
  f.exit(ExitReason::init_signal);
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x9a);
  f.exit(ExitReason::startup_ipi);
  f.vmcs.set(VmcsField::guest_rip, 0x42);  // the AP ran a little
  f.vmcs.set(VmcsField::exit_qualification, 0x9b);
  CHECK(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::resume);
  CHECK(f.vmcs.get(VmcsField::guest_cs_selector) == 0x9a00);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0x42);
  CHECK(f.vcpu.state == vmm::VcpuState::active);
  CHECK(f.vcpu.exit_counts[static_cast<unsigned>(ExitReason::init_signal)] == 2);
  CHECK(f.vcpu.exit_counts[static_cast<unsigned>(ExitReason::startup_ipi)] == 2);
}

TEST_CASE("INIT held by wait-for-SIPI, taken at the start point: ignored once, the CPU runs from the vector") {
  HandlerFixture f;
  f.vcpu.index = 1;
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x87);
  f.exit(ExitReason::startup_ipi);
  const uint64_t logged = vmm::global_log().total_written();
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::active);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == 0);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0);
  CHECK(f.vmcs.get(VmcsField::guest_cs_selector) == 0x8700);
  REQUIRE(vmm::global_log().total_written() > logged);
  static char ring[vmm::Log::kRingSize];
  const size_t n = vmm::global_log().read_ring(0, ring, sizeof ring);
  CHECK(std::string(ring, n).find("cpu1: INIT before the first instruction after SIPI: the INIT wait-for-SIPI held, ignored") !=
        std::string::npos);
  // The next SIPI start ignores one such INIT again.
  f.exit(ExitReason::init_signal);  // a second one at the same point parks it
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
  f.exit(ExitReason::startup_ipi);
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::active);
}

TEST_CASE("INIT elsewhere than the start point always parks the CPU, ignored or not before") {
  HandlerFixture f;
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x87);
  f.exit(ExitReason::startup_ipi);
  f.exit(ExitReason::init_signal);            // held INIT ignored
  f.vmcs.set(VmcsField::guest_rip, 0x10);     // the AP ran
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == kActivityWaitForSipi);
}

TEST_CASE("an AP looping at IP 0 of its SIPI page takes a later INIT: only the exit right after the SIPI is the held one") {
  HandlerFixture f;
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x87);
  f.exit(ExitReason::startup_ipi);
  f.vmcs.set(VmcsField::vm_exit_instruction_length, 2);
  f.exit(ExitReason::cpuid);                  // the AP ran (a `jmp $` at IP 0 keeps RIP at 0)
  f.vmcs.set(VmcsField::guest_rip, 0);
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);  // a real INIT: parked
}

TEST_CASE("INIT resets CR2 to 0 (Table 10-1), replacing a fault address an emulated #PF had armed") {
  HandlerFixture f;
  f.vcpu.cr2 = 0xdead000;
  f.vcpu.pending.set(vmm::pending::cr2);
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x10);
  f.exit(ExitReason::startup_ipi);
  CHECK(f.vcpu.cr2 == 0);
  CHECK(f.vcpu.pending.has(vmm::pending::cr2));  // written into CR2 before the next entry
}

TEST_CASE("Bochs 2.7 sequence INIT, SIPI, INIT twice at the start point: back to wait-for-SIPI, with a warning") {
  HandlerFixture f;
  f.vcpu.index = 1;
  f.exit(ExitReason::init_signal);
  f.vmcs.set(VmcsField::exit_qualification, 0x87);
  f.exit(ExitReason::startup_ipi);
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);  // ignored once
  CHECK(f.vcpu.state == vmm::VcpuState::active);
  f.vmcs.set(VmcsField::guest_interruptibility_state, 1u << 2);  // Bochs: "blocking by SMI"
  const uint64_t logged = vmm::global_log().total_written();
  CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
  CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == kActivityWaitForSipi);
  CHECK(f.vmcs.get(VmcsField::guest_interruptibility_state) == 0);
  REQUIRE(vmm::global_log().total_written() > logged);
  static char ring[vmm::Log::kRingSize];
  const size_t n = vmm::global_log().read_ring(0, ring, sizeof ring);
  CHECK(std::string(ring, n).find("cpu1: INIT before the first instruction after SIPI, again") != std::string::npos);
}

TEST_CASE("SIPI flushes the vCPU's VPID-tagged translations, as INIT empties the TLB") {
  for (uint64_t vpid : {0ull, 1ull, 2ull, 0xffffull}) {
    CAPTURE(vpid);
    HandlerFixture f;
    f.vmcs.set(VmcsField::virtual_processor_id, vpid);
    f.exit(ExitReason::init_signal);
    CHECK(f.host.tlb_flushes == 0);  // INIT alone starts nothing
    f.vmcs.set(VmcsField::exit_qualification, 0x9f);
    CHECK(outcome_of(f.exit(ExitReason::startup_ipi)) == Outcome::resume);
    CHECK(f.host.tlb_flushes == (vpid ? 1u : 0u));
    if (vpid) CHECK(f.host.last_flushed_vpid == vpid);
  }
}

// INIT to the bootstrap processor (SDM Vol 3A 8.4.2): it examines IA32_APIC_BASE.BSP and runs
// the BIOS boot-strap code at the reset vector instead of waiting for a SIPI; an AP waits.
namespace {
constexpr uint32_t kApicBase = 0x1b;
constexpr uint64_t kApicBaseEnabled = 0xfee00000ull | (1u << 11);

void expect_reset_vector_state(HandlerFixture& f) {
  CHECK(f.vcpu.state == vmm::VcpuState::active);
  CHECK(f.vmcs.get(VmcsField::guest_activity_state) == 0);
  CHECK(f.vmcs.get(VmcsField::guest_cs_selector) == 0xf000);
  CHECK(f.vmcs.get(VmcsField::guest_cs_base) == 0xffff0000);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == 0xfff0);
  CHECK(f.vmcs.get(VmcsField::cr0_read_shadow) == vmm::kCr0AfterInit);
  CHECK(f.vmcs.get(VmcsField::guest_ia32_efer) == 0);
  CHECK(f.vmcs.get(VmcsField::vm_entry_interruption_info) == 0);  // nothing delivered into the reset
  CHECK(f.gpr(arch::Gpr::rdx) == kSignature);
  CHECK(f.gpr(arch::Gpr::rax) == 0);
  CHECK_FALSE(f.vcpu.pending.has(vmm::pending::nmi));
}
}  // namespace

TEST_CASE("INIT to the BSP restarts it at the reset vector; an AP waits for a SIPI") {
  struct Row {
    const char* what;
    bool msr_present;
    uint64_t apic_base;
    bool bsp;
  };
  const Row rows[] = {
      {"BSP flag set", true, kApicBaseEnabled | vmm::kApicBaseBsp, true},
      {"BSP flag clear", true, kApicBaseEnabled, false},
      {"IA32_APIC_BASE unreadable: treated as an AP", false, 0, false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    HandlerFixture f;
    if (r.msr_present) f.host.set_msr(kApicBase, r.apic_base);
    f.gpr(arch::Gpr::rax) = 0x1234;
    f.vcpu.pending.set(vmm::pending::nmi);
    f.vmcs.set(VmcsField::vm_entry_interruption_info, kInjectGp);  // planned before the INIT
    const uint64_t log_before = vmm::global_log().total_written();
    CHECK(outcome_of(f.exit(ExitReason::init_signal)) == Outcome::resume);
    if (r.bsp) {
      expect_reset_vector_state(f);
      CHECK(vmm::global_log().total_written() > log_before);  // the warning
    } else {
      CHECK(f.vcpu.state == vmm::VcpuState::wait_for_sipi);
      CHECK(f.vmcs.get(VmcsField::guest_activity_state) == kActivityWaitForSipi);
    }
  }
}

TEST_CASE("intercepted INIT (init_sipi=intercept) to the BSP restarts it too; INIT-SIPI to an AP still starts it") {
  HandlerFixture bsp;
  bsp.host.set_msr(kApicBase, kApicBaseEnabled | vmm::kApicBaseBsp);
  bsp.vcpu.pending.set(vmm::pending::nmi);
  REQUIRE(bsp.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::init, 0}));
  CHECK(vmm::apic::drain_ap_mailbox(bsp.ctx));  // the guest runs on, from the reset vector
  expect_reset_vector_state(bsp);
  CHECK(bsp.vcpu.ap.state == vmm::apic::ApState::running);

  HandlerFixture ap;
  ap.host.set_msr(kApicBase, kApicBaseEnabled);
  REQUIRE(ap.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::init, 0}));
  CHECK_FALSE(vmm::apic::drain_ap_mailbox(ap.ctx));  // parked until a STARTUP
  CHECK(ap.vcpu.state == vmm::VcpuState::wait_for_sipi);
  REQUIRE(ap.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::startup, 0x9a}));
  CHECK(vmm::apic::drain_ap_mailbox(ap.ctx));
  CHECK(ap.vmcs.get(VmcsField::guest_cs_base) == 0x9a000);
  CHECK(ap.vmcs.get(VmcsField::guest_rip) == 0);
}

// What the guest reads in CR0 after INIT + STARTUP: 60000010H (Table 10-1), CD and NW
// included, though VM entry cannot load them (vmm/handlers/guest_view.hpp): they must come
// from the read shadow through the launch's mask. MOV from CR0 does not exit, so the check is
// the CPU's own combination (guest_visible_cr0). Both init_sipi modes: the INIT and SIPI exits
// (native), and INIT/STARTUP intercepted at the ICR and delivered through the AP's mailbox.
// The guest ran with CD=NW=0 before, as the firmware and every OS do.
TEST_CASE("INIT + STARTUP: the guest reads CR0 = 60000010H, in both init_sipi modes and at the reset vector") {
  enum class Path { native_exits, intercepted, bsp_native, bsp_intercepted };
  for (Path path : {Path::native_exits, Path::intercepted, Path::bsp_native, Path::bsp_intercepted}) {
    CAPTURE(static_cast<int>(path));
    HandlerFixture f;
    f.vmcs.set(VmcsField::cr0_guest_host_mask, vmm::cr0_guest_host_mask(f.policy));  // launch's mask
    REQUIRE((vmm::guest_visible_cr0(f.vmcs) & (cr0::CD | cr0::NW)) == 0);
    const bool bsp = path == Path::bsp_native || path == Path::bsp_intercepted;
    f.host.set_msr(kApicBase, kApicBaseEnabled | (bsp ? vmm::kApicBaseBsp : 0));
    switch (path) {
      case Path::native_exits:
        f.exit(ExitReason::init_signal);
        f.vmcs.set(VmcsField::exit_qualification, 0x9a);
        f.exit(ExitReason::startup_ipi);
        break;
      case Path::intercepted:
        REQUIRE(f.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::init, 0}));
        CHECK_FALSE(vmm::apic::drain_ap_mailbox(f.ctx));
        REQUIRE(f.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::startup, 0x9a}));
        CHECK(vmm::apic::drain_ap_mailbox(f.ctx));
        break;
      case Path::bsp_native: f.exit(ExitReason::init_signal); break;
      case Path::bsp_intercepted:
        REQUIRE(f.vcpu.mailbox.post({vmm::apic::ApEvent::Kind::init, 0}));
        CHECK(vmm::apic::drain_ap_mailbox(f.ctx));
        break;
    }
    CHECK(f.vcpu.state == vmm::VcpuState::active);
    CHECK(f.vmcs.get(VmcsField::guest_cs_base) == (bsp ? 0xffff0000 : 0x9a000));
    CHECK(vmm::guest_visible_cr0(f.vmcs) == 0x60000010);
    CHECK((f.vmcs.get(VmcsField::guest_cr0) & (cr0::CD | cr0::NW)) == 0);  // the processor's stay clear
    CHECK(vmm::guest_visible_cr4(f.vmcs) == 0);
  }
}
