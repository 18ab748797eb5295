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

// The bytes at CS:RIP matched as a 32-bit MOV (kLoad: 8B, else 89 / C7 /0), `ec` holding
// the guest's code context already; the fetched bytes are left in `fetch`. False when the
// fetch faults or the bytes are anything else.
template <bool kLoad>
bool fetch_and_match(emu::EmuContext& ec, bool apx, emu::CodeFetch& fetch, decode::MovStore32* m) {
  if (fetch.start(ec).outcome != emu::Outcome::ok) return false;
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

// The common part of both fast paths: the guest's code context and the instruction bytes at
// CS:RIP matched as a 32-bit MOV. False, with nothing changed, when the guest is in
// real/virtual-8086 or 16-bit mode, the fetch faults or the bytes are anything else.
template <bool kLoad>
bool match_at_rip(ExitContext& ctx, guest_memory::GuestLinearMemory& mem, emu::EmuContext& ec, decode::MovStore32* m) {
  guest_memory::read_code_context(ctx.vmcs, ctx.vcpu.regs, mem, ec);  // gpr[4] = GUEST_RSP
  if (ec.real_or_v86) return false;
  emu::CodeFetch fetch;
  return fetch_and_match<kLoad>(ec, guest_rex2_enabled(ctx), fetch, m);  // REX2: guest XCR0.APX and CR4.OSXSAVE
}

// The vCPU's RipDecodeCache answers for this exit: every check rip_decode_cache.hpp lists.
bool cached_match(const RipDecodeCache& c, const guest_memory::PagingState& ps, const emu::EmuContext& ec, bool apx,
                  decode::MovStore32* m) {
  if (!c.valid || c.rip != ec.rip || c.cr3 != ps.cr3 || c.cr0 != ps.cr0 || c.cr4 != ps.cr4 || c.efer != ps.efer ||
      c.cpl != ec.cpl || c.mode != static_cast<uint8_t>(ec.mode) || c.apx != apx)
    return false;
  for (unsigned i = 0; i < c.entry_count; ++i)
    if (*c.entry[i] != c.entry_value[i]) return false;
  for (unsigned i = 0; i < c.match.length; ++i)
    if (c.code[i] != c.bytes[i]) return false;
  *m = c.match;
  return true;
}

// After the uncached path matched `m` from `bytes`: the entry, when the instruction can be
// cached (64-bit code under 4- or 5-level paging, within one page, walked through RAM only).
// The walk is repeated without A/D updates (the fetch has set them) to learn its entries.
void fill_cache(RipDecodeCache& c, guest_memory::GuestPhysMemory& phys, const guest_memory::PagingState& ps,
                const emu::EmuContext& ec, bool apx, const uint8_t* bytes, const decode::MovStore32& m) {
  using guest_memory::PagingMode;
  c.valid = false;
  const PagingMode pm = guest_memory::paging_mode(ps);
  if (ec.mode != decode::CpuMode::bits64 || (pm != PagingMode::level4 && pm != PagingMode::level5)) return;
  if (m.length > RipDecodeCache::kMaxLength || (ec.rip & 0xfff) + m.length > 0x1000) return;
  guest_memory::PagingState quiet = ps;
  quiet.set_accessed_dirty = false;
  const guest_memory::Translation t =
      guest_memory::walk(phys, ec.rip, {emu::AccessType::fetch, guest_memory::Privilege::from_cpl}, quiet);
  if (!t.ok() || t.entry_count == 0 || t.entry_count > RipDecodeCache::kMaxEntries) return;
  for (unsigned i = 0; i < t.entry_count; ++i) {
    const volatile uint8_t* p = phys.ram_pointer(t.entry_gpa[i]);
    if (!p || (t.entry_gpa[i] & 7)) return;
    c.entry[i] = reinterpret_cast<const volatile uint64_t*>(p);
    c.entry_value[i] = t.entry_value[i];
  }
  c.code = phys.ram_pointer(t.gpa);
  if (!c.code) return;
  for (unsigned i = 0; i < m.length; ++i) {
    c.bytes[i] = bytes[i];
    if (c.code[i] != bytes[i]) return;  // changed under the fetch: not what this walk maps
  }
  c.entry_count = t.entry_count;
  c.rip = ec.rip;
  c.cr0 = ps.cr0;
  c.cr3 = ps.cr3;
  c.cr4 = ps.cr4;
  c.efer = ps.efer;
  c.cpl = ec.cpl;
  c.mode = static_cast<uint8_t>(ec.mode);
  c.apx = apx;
  c.match = m;
  c.valid = true;
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
  guest_memory::read_code_context(ctx.vmcs, ctx.vcpu.regs, mem, ec);  // gpr[4] = GUEST_RSP
  if (ec.real_or_v86) return false;
  const bool apx = guest_rex2_enabled(ctx);  // REX2 is legal only with guest XCR0.APX and CR4.OSXSAVE
  // The instruction at RIP from the vCPU's cache (vmm/handlers/rip_decode_cache.hpp), else
  // fetched through the guest's paging and matched, and cached for the next exit.
  if (!cached_match(ctx.vcpu.rip_cache, mem.paging(), ec, apx, &m)) {
    emu::CodeFetch fetch;
    if (!fetch_and_match<true>(ec, apx, fetch, &m)) return false;
    fill_cache(ctx.vcpu.rip_cache, phys, mem.paging(), ec, apx, fetch.bytes(), m);
  }

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
