// vmm/guest_memory/emu_state: the emulator's context and the paging state from the VMCS guest
// area (FakeVmcs), and the write-back after an emulated instruction.
#include <catch.hpp>

#include "emulate_test_support.hpp"
#include "vmm/guest_memory/emu_state.hpp"
#include "vmx/controls.hpp"
#include "vmx/fake_vmcs.hpp"

using namespace emu_test;
using vmx::VmcsField;

TEST_CASE("emu_state: paging state from the VMCS", "[emulate][vmcs]") {
  vmx::FakeVmcs vmcs;
  vmcs.set(VmcsField::guest_cr0, 0x80050033);
  vmcs.set(VmcsField::guest_cr3, 0x1234000);
  vmcs.set(VmcsField::guest_cr4, arch::cr4::PAE | arch::cr4::SMAP);
  vmcs.set(VmcsField::guest_ia32_efer, arch::efer::LME | arch::efer::NXE);  // LMA comes from the control
  vmcs.set(VmcsField::vm_entry_controls, vmx::entry_ctl::ia32e_mode_guest);
  vmcs.set(VmcsField::guest_ss_access_rights, 0xC0F3);  // DPL 3
  vmcs.set(VmcsField::guest_rflags, 0x2 | arch::rflags::AC);
  PagingState s = read_paging_state(vmcs, 46);
  CHECK(s.cr0 == 0x80050033);
  CHECK(s.cr3 == 0x1234000);
  CHECK(paging_mode(s) == PagingMode::level4);
  CHECK((s.efer & arch::efer::NXE) != 0);
  CHECK(s.cpl == 3);
  CHECK(s.rflags_ac);
  CHECK(s.maxphyaddr == 46);
  CHECK_FALSE(s.pdptes_valid);

  // PAE outside IA-32e mode: the PDPTEs come from the VMCS.
  vmcs.set(VmcsField::vm_entry_controls, 0);
  vmcs.set(VmcsField::guest_ia32_efer, arch::efer::LMA);  // stale: the control says otherwise
  vmcs.set(VmcsField::guest_pdpte2, 0xABC001);
  s = read_paging_state(vmcs, 36);
  CHECK(paging_mode(s) == PagingMode::pae);
  REQUIRE(s.pdptes_valid);
  CHECK(s.pdpte[2] == 0xABC001);
}

TEST_CASE("emu_state: emulator context from the VMCS and back", "[emulate][vmcs]") {
  vmx::FakeVmcs vmcs;
  vmx::GprFile regs{};
  FakePhys phys;
  GuestLinearMemory mem(phys, flat_state(decode::CpuMode::bits64));
  emu::EmuContext ctx;

  // 64-bit: IA-32e guest with CS.L.
  vmcs.set(VmcsField::vm_entry_controls, vmx::entry_ctl::ia32e_mode_guest);
  vmcs.set(VmcsField::guest_cs_access_rights, 0xA09B);
  vmcs.set(VmcsField::guest_cr0, 0x80050033);
  vmcs.set(VmcsField::guest_cr4, arch::cr4::PAE | arch::cr4::LA57);
  vmcs.set(VmcsField::guest_rip, 0xFFFFFFFF81000000);
  vmcs.set(VmcsField::guest_rsp, 0xFFFFC90000003F00);
  vmcs.set(VmcsField::guest_rflags, 0x246);
  vmcs.set(VmcsField::guest_gs_base, 0xFFFF888000000000);
  vmcs.set(VmcsField::guest_ss_access_rights, 0xC093);
  read_emu_context(vmcs, regs, mem, ctx);
  CHECK(ctx.mode == decode::CpuMode::bits64);
  CHECK(ctx.gpr == regs.gpr);
  CHECK(ctx.mem == &mem);
  CHECK(regs.gpr[4] == 0xFFFFC90000003F00);
  CHECK(ctx.rip == 0xFFFFFFFF81000000);
  CHECK(ctx.rflags == 0x246);
  CHECK(ctx.seg[5].base == 0xFFFF888000000000);
  CHECK(ctx.la57);
  CHECK(ctx.cr0_am);
  CHECK(ctx.cpl == 0);
  CHECK_FALSE(ctx.real_or_v86);

  // Emulate a push-free instruction and write back.
  ctx.rip += 3;
  ctx.rflags = 0x202;
  regs.gpr[4] = 0x1000;
  REQUIRE(write_back_emu_context(vmcs, ctx));
  CHECK(vmcs.get(VmcsField::guest_rip) == 0xFFFFFFFF81000003);
  CHECK(vmcs.get(VmcsField::guest_rflags) == 0x202);
  CHECK(vmcs.get(VmcsField::guest_rsp) == 0x1000);

  // Compatibility mode (IA-32e without CS.L) with CS.D: 32-bit; CS.D=0: 16-bit.
  vmcs.set(VmcsField::guest_cs_access_rights, 0xC09B);
  read_emu_context(vmcs, regs, mem, ctx);
  CHECK(ctx.mode == decode::CpuMode::bits32);
  vmcs.set(VmcsField::vm_entry_controls, 0);
  vmcs.set(VmcsField::guest_cs_access_rights, 0xA09B);  // L without IA-32e mode is not 64-bit
  read_emu_context(vmcs, regs, mem, ctx);
  CHECK(ctx.mode == decode::CpuMode::bits16);
  // Real mode (CR0.PE = 0) and virtual-8086 mode (RFLAGS.VM).
  vmcs.set(VmcsField::guest_cr0, 0x10);
  vmcs.set(VmcsField::guest_cs_access_rights, 0x9B);
  vmcs.set(VmcsField::guest_ds_limit, 0xFFFF);
  read_emu_context(vmcs, regs, mem, ctx);
  CHECK(ctx.real_or_v86);
  CHECK(ctx.seg[3].limit == 0xFFFF);
  vmcs.set(VmcsField::guest_cr0, 0x11);
  vmcs.set(VmcsField::guest_rflags, 0x20202);
  read_emu_context(vmcs, regs, mem, ctx);
  CHECK(ctx.real_or_v86);
}

TEST_CASE("emu_state: the code context is the emulator context without the data segments", "[emulate][vmcs]") {
  vmx::FakeVmcs vmcs;
  vmx::GprFile regs{};
  FakePhys phys;
  GuestLinearMemory mem(phys, flat_state(decode::CpuMode::bits32));
  vmcs.set(VmcsField::guest_cs_access_rights, 0xC09B);  // 32-bit protected mode
  vmcs.set(VmcsField::guest_cs_base, 0x10000);
  vmcs.set(VmcsField::guest_cs_limit, 0xFFFF);
  vmcs.set(VmcsField::guest_cr0, 0x11);
  vmcs.set(VmcsField::guest_rip, 0x1234);
  vmcs.set(VmcsField::guest_rsp, 0x8000);
  vmcs.set(VmcsField::guest_rflags, 0x202);
  vmcs.set(VmcsField::guest_ds_base, 0x5000);
  emu::EmuContext code, full;
  read_code_context(vmcs, regs, mem, code);
  const unsigned reads = vmcs.reads();
  read_emu_context(vmcs, regs, mem, full);
  CHECK(vmcs.reads() - reads == reads + 15);  // five data segments, three fields each
  CHECK(code.mode == full.mode);
  CHECK(code.mode == decode::CpuMode::bits32);
  CHECK(code.rip == 0x1234);
  CHECK(code.rflags == 0x202);
  CHECK(regs.gpr[4] == 0x8000);
  CHECK(code.gpr == regs.gpr);
  CHECK(code.mem == &mem);
  CHECK(code.seg[1].base == 0x10000);
  CHECK(code.seg[1].limit == 0xFFFF);
  CHECK(code.seg[1].access_rights == 0xC09B);
  CHECK(code.seg[3].base == 0);  // DS untouched: the emulator's default
  CHECK(full.seg[3].base == 0x5000);
  CHECK(code.real_or_v86 == full.real_or_v86);
  CHECK(code.cpl == full.cpl);
  CHECK(code.la57 == full.la57);
  CHECK(code.cr0_am == full.cr0_am);
}

TEST_CASE("emu_state: exceptions become hardware-exception events", "[emulate][vmcs]") {
  const vmm::Event pf = to_event(emu::Exception::pf(0x7, 0x1000));
  CHECK(pf.vector == vmm::vector::PF);
  CHECK(pf.type == vmm::EventType::hardware_exception);
  CHECK(pf.has_error_code);
  CHECK(pf.error_code == 7);
  const vmm::Event ud = to_event(emu::Exception::ud());
  CHECK(ud.vector == vmm::vector::UD);
  CHECK_FALSE(ud.has_error_code);
}
