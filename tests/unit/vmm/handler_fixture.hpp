// One exit, ready to hand to a handler: a vCPU, a FakeVmcs holding a plausible guest, a
// FakeHostOps and a GuestPolicy with the VMX fixed bits of a typical Intel CPU. The masks
// and shadows are set up the way vmm/launch/launch.cpp sets them, so a handler sees what it
// would see on hardware. Tests change what their rows are about and leave the rest.
#pragma once
#include <stdint.h>

#include <catch.hpp>

#include <cstring>
#include <string>

#include "fake_host_ops.hpp"
#include "arch/cr_bits.hpp"
#include "vmm/exit_context.hpp"
#include "vmm/exit_dispatch.hpp"
#include "vmm/policy/xcr0_bits.hpp"
#include "vmx/controls.hpp"
#include "vmx/fake_vmcs.hpp"

namespace vmm_test {

using vmx::VmcsField;
namespace cr0 = arch::cr0;
namespace cr4 = arch::cr4;
namespace efer = arch::efer;

// IA32_VMX_CR0_FIXED0/1 and CR4_FIXED0/1 as Intel CPUs report them (SDM Vol 3D A.7/A.8):
// CR0 PE, NE, PG must be 1; CR4 VMXE must be 1; CR4 bits 15, 19 and 24+ unsupported.
inline constexpr uint64_t kCr0Fixed0 = cr0::PE | cr0::NE | cr0::PG;
inline constexpr uint64_t kCr0Fixed1 = 0xffffffff;
inline constexpr uint64_t kCr4Fixed0 = cr4::VMXE;
inline constexpr uint64_t kCr4Fixed1 = 0x00f77fff;

// The guest modes the fixture can put the vCPU in.
enum class Mode { long64, compat32, prot32_paged, prot32_unpaged, real };

// CPUID.1:EAX of the fake host: the processor signature INIT puts in EDX.
inline constexpr uint32_t kSignature = 0x000806f8;

// VM-entry interruption information the dispatcher writes for #GP(0) and #UD (SDM 25.8.3).
inline constexpr uint64_t kInjectGp = 0x80000b0d;
inline constexpr uint64_t kInjectGpRealMode = 0x8000030d;  // no error code with CR0.PE=0
inline constexpr uint64_t kInjectUd = 0x80000306;
inline constexpr uint64_t kInjectNmi = 0x80000202;

// The exit being handled, as the routed guest-memory view asks for it (GuestPhysView's
// current_exit; the image reads it through the host GS base): the context of the fixture
// that last ran exit(), or was built.
inline vmm::ExitContext* g_exit_now = nullptr;
inline vmm::ExitContext* exit_now() { return g_exit_now; }

struct HandlerFixture {
  vmm::Vcpu vcpu{};
  vmx::FakeVmcs vmcs;
  FakeHostOps host;
  vmm::GuestPolicy policy{};
  vmm::ExitContext ctx{vcpu, vmcs, host, policy};

  HandlerFixture() {
    g_exit_now = &ctx;
    policy.cr0_fixed0 = kCr0Fixed0;
    policy.cr0_fixed1 = kCr0Fixed1;
    policy.cr4_fixed0 = kCr4Fixed0;
    policy.cr4_fixed1 = kCr4Fixed1;
    policy.unrestricted_guest = true;
    policy.exit_info_form = vmx::ExitInfoForm::legacy;
    policy.apx.guest_supported_xcr0 = vmm::policy::xcr0::X87 | vmm::policy::xcr0::SSE | vmm::policy::xcr0::AVX;
    host.set_cpuid(1, 0, {kSignature, 0, 0, 0});
    vcpu.index = 0;
    vcpu.state = vmm::VcpuState::active;
    set_masks();
    // A 64-bit kernel: paging, PAE, OSXSAVE; EFER LME/LMA/SCE/NXE.
    set_mode(Mode::long64);
    vmcs.set(VmcsField::guest_rip, 0x1000);
    vmcs.set(VmcsField::vm_exit_instruction_length, 3);
    vmcs.set(VmcsField::guest_rflags, arch::rflags::FIXED1);
    vmcs.set(VmcsField::primary_processor_based_controls,
             vmx::proc::use_msr_bitmaps | vmx::proc::activate_secondary_controls);
  }

  ~HandlerFixture() {
    if (g_exit_now == &ctx) g_exit_now = nullptr;
  }
  HandlerFixture(const HandlerFixture&) = delete;
  HandlerFixture& operator=(const HandlerFixture&) = delete;

  // CR0/CR4 ownership as launch.cpp computes it: the VMX-fixed bits, CR0.CD/NW always
  // (VM entry cannot load them, vmm/handlers/guest_view.hpp), CR4.VMXE.
  void set_masks() {
    uint64_t cr0_mask = (policy.cr0_fixed0 | ~policy.cr0_fixed1) & 0xffffffffull;
    if (policy.unrestricted_guest) cr0_mask &= ~(cr0::PE | cr0::PG);
    cr0_mask |= cr0::CD | cr0::NW;
    vmcs.set(VmcsField::cr0_guest_host_mask, cr0_mask);
    vmcs.set(VmcsField::cr4_guest_host_mask, ((policy.cr4_fixed0 | ~policy.cr4_fixed1) & 0xffffffffull) | cr4::VMXE);
  }

  // The guest's own view of CR0/CR4 (what it last wrote): shadow = view, real = view with the
  // owned bits forced, CR0.CD/NW clear (spelled out here rather than calling the code under test).
  void set_cr0(uint64_t view) {
    vmcs.set(VmcsField::cr0_read_shadow, view);
    uint64_t must = policy.cr0_fixed0 & (policy.unrestricted_guest ? ~(cr0::PE | cr0::PG) : ~0ull);
    vmcs.set(VmcsField::guest_cr0, (view | must) & policy.cr0_fixed1 & ~(cr0::CD | cr0::NW));
  }
  void set_cr4(uint64_t view) {
    vmcs.set(VmcsField::cr4_read_shadow, view);
    vmcs.set(VmcsField::guest_cr4, (view | policy.cr4_fixed0 | cr4::VMXE) & policy.cr4_fixed1);
  }
  void set_efer(uint64_t value) {
    vmcs.set(VmcsField::guest_ia32_efer, value);
    uint64_t entry = vmx::entry_ctl::load_ia32_efer | vmx::entry_ctl::load_ia32_pat;
    if (value & efer::LMA) entry |= vmx::entry_ctl::ia32e_mode_guest;
    vmcs.set(VmcsField::vm_entry_controls, entry);
  }
  void set_cpl(unsigned cpl) {
    uint64_t ss = vmcs.get(VmcsField::guest_ss_access_rights) & ~0x60ull;
    vmcs.set(VmcsField::guest_ss_access_rights, ss | (cpl << 5));
  }

  void set_mode(Mode m) {
    constexpr uint64_t kCs64 = 0xa09b, kCs32 = 0xc09b, kCs16 = 0x9b, kData32 = 0xc093, kData16 = 0x93;
    switch (m) {
      case Mode::long64:
        set_cr0(0x80050033);
        set_cr4(cr4::PAE | cr4::PGE | cr4::OSFXSR | cr4::OSXMMEXCPT | cr4::OSXSAVE);
        set_efer(efer::SCE | efer::LME | efer::LMA | efer::NXE);
        vmcs.set(VmcsField::guest_cs_access_rights, kCs64);
        vmcs.set(VmcsField::guest_ss_access_rights, kData32);
        break;
      case Mode::compat32:
        set_mode(Mode::long64);
        vmcs.set(VmcsField::guest_cs_access_rights, kCs32);
        break;
      case Mode::prot32_paged:
        set_cr0(0x80000033);
        set_cr4(cr4::PSE);
        set_efer(0);
        vmcs.set(VmcsField::guest_cs_access_rights, kCs32);
        vmcs.set(VmcsField::guest_ss_access_rights, kData32);
        break;
      case Mode::prot32_unpaged:
        set_cr0(0x00000033);
        set_cr4(0);
        set_efer(0);
        vmcs.set(VmcsField::guest_cs_access_rights, kCs32);
        vmcs.set(VmcsField::guest_ss_access_rights, kData32);
        break;
      case Mode::real:
        set_cr0(0x60000010);
        set_cr4(0);
        set_efer(0);
        vmcs.set(VmcsField::guest_cs_access_rights, kCs16);
        vmcs.set(VmcsField::guest_ss_access_rights, kData16);
        break;
    }
  }

  // Flat 4 GiB code and data segments (DS, ES, SS usable), for tests that emulate an
  // instruction against guest memory.
  void set_flat_segments() {
    vmcs.set(VmcsField::guest_cs_limit, 0xFFFFFFFF);
    for (VmcsField s : {VmcsField::guest_ds_access_rights, VmcsField::guest_es_access_rights}) vmcs.set(s, 0xC093);
    for (VmcsField s : {VmcsField::guest_ds_limit, VmcsField::guest_es_limit, VmcsField::guest_ss_limit})
      vmcs.set(s, 0xFFFFFFFF);
  }

  // Runs the exit through the real dispatcher, as the image does, and applies the action.
  vmm::ExitAction exit(vmx::ExitReason reason) {
    g_exit_now = &ctx;
    vmm::ExitAction a = vmm::dispatch_exit(ctx, static_cast<uint16_t>(reason));
    applied = vmm::apply_exit_action(ctx, a);
    return a;
  }
  uint64_t& gpr(arch::Gpr r) { return vcpu.regs.gpr[static_cast<unsigned>(r)]; }
  uint64_t injected() const { return vmcs.get(VmcsField::vm_entry_interruption_info); }
  bool advanced() const { return vmcs.get(VmcsField::guest_rip) == 0x1003; }

  bool applied = false;
};

// What a handler's action amounts to, for one column of a row.
enum class Outcome { resume, advance, gp, ud, nmi, other_injection, stop };

inline Outcome outcome_of(const vmm::ExitAction& a) {
  using K = vmm::ExitAction::Kind;
  switch (a.kind) {
    case K::resume: return Outcome::resume;
    case K::advance_rip: return Outcome::advance;
    case K::stop: return Outcome::stop;
    case K::inject:
      if (a.event.vector == vmm::vector::GP && a.event.type == vmm::EventType::hardware_exception &&
          a.event.has_error_code && a.event.error_code == 0)
        return Outcome::gp;
      if (a.event.vector == vmm::vector::UD && a.event.type == vmm::EventType::hardware_exception &&
          !a.event.has_error_code)
        return Outcome::ud;
      if (a.event.vector == vmm::vector::NMI && a.event.type == vmm::EventType::nmi) return Outcome::nmi;
      return Outcome::other_injection;
  }
  return Outcome::stop;
}

inline const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::resume: return "resume";
    case Outcome::advance: return "advance";
    case Outcome::gp: return "#GP(0)";
    case Outcome::ud: return "#UD";
    case Outcome::nmi: return "NMI";
    case Outcome::other_injection: return "another injection";
    case Outcome::stop: return "stop";
  }
  return "?";
}

}  // namespace vmm_test

namespace Catch {
template <>
struct StringMaker<vmm_test::Outcome> {
  static std::string convert(vmm_test::Outcome o) { return vmm_test::outcome_name(o); }
};
}  // namespace Catch
