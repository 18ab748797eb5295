#include "vmm/handlers/guest_view.hpp"

#include "arch/cr_bits.hpp"
#include "vmx/controls.hpp"

namespace vmm {

using vmx::VmcsField;

namespace {
constexpr unsigned kRsp = static_cast<unsigned>(arch::Gpr::rsp);
}  // namespace

uint64_t read_gpr(ExitContext& ctx, unsigned n) {
  n &= arch::kGprCount - 1;
  return n == kRsp ? ctx.vmcs.read(VmcsField::guest_rsp) : ctx.vcpu.regs.gpr[n];
}

bool write_gpr(ExitContext& ctx, unsigned n, uint64_t value) {
  n &= arch::kGprCount - 1;
  ctx.vcpu.regs.gpr[n] = value;
  return n != kRsp || ctx.vmcs.write(VmcsField::guest_rsp, value);
}

uint8_t guest_cpl(vmx::VmcsAccess& vmcs) {
  return static_cast<uint8_t>((vmcs.read(VmcsField::guest_ss_access_rights) >> 5) & 3);
}

bool guest_in_64bit_mode(vmx::VmcsAccess& vmcs) {
  constexpr uint64_t kCsL = 1u << 13;  // access rights: L (64-bit code segment)
  return (vmcs.read(VmcsField::vm_entry_controls) & vmx::entry_ctl::ia32e_mode_guest) &&
         (vmcs.read(VmcsField::guest_cs_access_rights) & kCsL);
}

namespace {
uint64_t visible(uint64_t real, uint64_t shadow, uint64_t mask) { return (real & ~mask) | (shadow & mask); }
}  // namespace

uint64_t guest_visible_cr0(vmx::VmcsAccess& vmcs) {
  return visible(vmcs.read(VmcsField::guest_cr0), vmcs.read(VmcsField::cr0_read_shadow),
                 vmcs.read(VmcsField::cr0_guest_host_mask));
}

uint64_t guest_visible_cr4(vmx::VmcsAccess& vmcs) {
  return visible(vmcs.read(VmcsField::guest_cr4), vmcs.read(VmcsField::cr4_read_shadow),
                 vmcs.read(VmcsField::cr4_guest_host_mask));
}

uint64_t cr0_guest_host_mask(const GuestPolicy& p) {
  uint64_t mask = (p.cr0_fixed0 | ~p.cr0_fixed1) & 0xffffffffull;
  if (p.unrestricted_guest) mask &= ~(arch::cr0::PE | arch::cr0::PG);  // SDM Vol 3D A.7
  return mask | kCr0CacheControl;
}

uint64_t real_cr0_for(const GuestPolicy& p, uint64_t value) {
  uint64_t must_be_one = p.cr0_fixed0;
  if (p.unrestricted_guest) must_be_one &= ~(arch::cr0::PE | arch::cr0::PG);  // SDM Vol 3D A.7
  return ((value | must_be_one) & p.cr0_fixed1) & ~kCr0CacheControl;
}

LaunchCr0 launch_cr0(const GuestPolicy& p, uint64_t firmware_cr0) {
  return {cr0_guest_host_mask(p), firmware_cr0, real_cr0_for(p, firmware_cr0)};
}

uint64_t real_cr4_for(const GuestPolicy& p, uint64_t value) {
  return (value | p.cr4_fixed0 | arch::cr4::VMXE) & p.cr4_fixed1;  // SDM Vol 3D A.8
}

bool guest_rex2_enabled(ExitContext& ctx) {
  // The XCR0 shadow first: with APX off (every guest today) no VMREAD is spent.
  return ctx.vcpu.xstate.save_egprs && (guest_visible_cr4(ctx.vmcs) & arch::cr4::OSXSAVE);
}

}  // namespace vmm
