#include "vmm/handlers/store32_at_rip.hpp"
#include "vmm/handlers/guest_view.hpp"

#include "arch/little_endian.hpp"
#include "decode/emulate/code_fetch.hpp"
#include "decode/mov_store32.hpp"
#include "vmm/guest_memory/emu_state.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmx/exit_qualification.hpp"

namespace vmm {

namespace emu = decode::emulate;

namespace {

// The common part of both fast paths: the guest's code context and the instruction bytes at
// CS:RIP matched as a 32-bit MOV (kLoad: 8B, else 89 / C7 /0). False, with nothing
// changed, when the guest is in real/virtual-8086 or 16-bit mode, the fetch faults or the
// bytes are anything else.
template <bool kLoad>
bool match_at_rip(ExitContext& ctx, guest_memory::GuestLinearMemory& mem, emu::EmuContext& ec, decode::MovStore32* m) {
  guest_memory::read_code_context(ctx.vmcs, ctx.vcpu.regs, mem, ec);  // gpr[4] = GUEST_RSP
  if (ec.real_or_v86) return false;
  emu::CodeFetch fetch;
  if (fetch.start(ec).outcome != emu::Outcome::ok) return false;
  const bool apx = guest_rex2_enabled(ctx);  // REX2 is legal only with guest XCR0.APX=1 and CR4.OSXSAVE
  auto match = [&] {
    return kLoad ? decode::match_mov_load32(fetch.bytes(), fetch.size(), ec.mode, apx)
                 : decode::match_mov_store32(fetch.bytes(), fetch.size(), ec.mode, apx);
  };
  *m = match();
  if (m->miss == decode::MovStore32Miss::truncated && fetch.can_grow()) {
    if (fetch.grow().outcome != emu::Outcome::ok) return false;
    *m = match();
  }
  return m->ok();
}

}  // namespace

bool store32_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, uint64_t gpa, ExitAction* action) {
  // Only a write to the address of the access itself: with bit 8 clear the EPT refused an
  // A/D-bit update of a paging-structure entry, whose address is not the store's.
  namespace qual = vmx::ept_violation_qual;
  const uint64_t q = ctx.vmcs.read(vmx::VmcsField::exit_qualification);
  if (!(q & qual::access_write) || !(q & qual::linear_valid) || !(q & qual::translated)) return false;
  // A 4-byte-aligned store lies in one page and is exactly one register of a device page.
  if (gpa & 3) return false;

  guest_memory::GuestLinearMemory mem(phys, guest_memory::read_paging_state(ctx.vmcs, 52));
  emu::EmuContext ec;
  decode::MovStore32 m;
  if (!match_at_rip<false>(ctx, mem, ec, &m)) return false;

  const uint32_t value = m.immediate ? m.imm : static_cast<uint32_t>(ctx.vcpu.regs.gpr[m.reg]);
  uint8_t bytes[4];
  arch::store_le(bytes, 4, value);
  if (phys.write(gpa, bytes, sizeof bytes) != guest_memory::PhysStatus::ok) return false;

  bool unsupported = false;
  *action = finish_emulation(ctx, ec, emu::complete_instruction(ec, m.length, ec.rflags), &unsupported);
  return true;
}

bool load32_at_rip(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, uint64_t gpa, ExitAction* action) {
  if (gpa & 3) return false;
  guest_memory::GuestLinearMemory mem(phys, guest_memory::read_paging_state(ctx.vmcs, 52));
  emu::EmuContext ec;
  decode::MovStore32 m;
  if (!match_at_rip<true>(ctx, mem, ec, &m)) return false;

  uint8_t bytes[4];
  if (phys.read(gpa, bytes, sizeof bytes) != guest_memory::PhysStatus::ok) return false;
  // A 32-bit destination is zero-extended (SDM Vol 1 3.4.1.1); RSP (gpr[4]) goes back to
  // GUEST_RSP with finish_emulation.
  ec.gpr[m.reg] = arch::load_le(bytes, 4);
  bool unsupported = false;
  *action = finish_emulation(ctx, ec, emu::complete_instruction(ec, m.length, ec.rflags), &unsupported);
  return true;
}

}  // namespace vmm
