#include "vmm/handlers/store32_at_rip.hpp"
#include "vmm/handlers/guest_view.hpp"

#include "arch/little_endian.hpp"
#include "decode/emulate/code_fetch.hpp"
#include "decode/mov_store32.hpp"
#include "vmm/guest_memory/emu_state.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/instruction_retire.hpp"
#include "vmx/controls.hpp"
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
  if (!c.memory_unchanged()) return false;
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

// The vCPU's cache answers for this exit, checked against the VMCS alone: the same checks as
// cached_match, reading only the fields they compare (RIP, CR0, CR3, CR4, EFER with LMA from
// the entry control, the CPL from SS, CS.L) instead of the whole paging and code context —
// the cache holds 64-bit code only (fill_cache), where the mode is IA-32e mode with CS.L.
// `*rip` gets GUEST_RIP.
bool cache_hit(ExitContext& ctx, const RipDecodeCache& c, uint64_t* rip) {
  using vmx::VmcsField;
  if (!c.valid) return false;
  vmx::VmcsAccess& v = ctx.vmcs;
  *rip = v.read(VmcsField::guest_rip);
  if (*rip != c.rip || v.read(VmcsField::guest_cr3) != c.cr3 || v.read(VmcsField::guest_cr0) != c.cr0 ||
      v.read(VmcsField::guest_cr4) != c.cr4)
    return false;
  const bool ia32e = v.read(VmcsField::vm_entry_controls) & vmx::entry_ctl::ia32e_mode_guest;
  const uint64_t efer = (v.read(VmcsField::guest_ia32_efer) & ~arch::efer::LMA) | (ia32e ? arch::efer::LMA : 0);
  constexpr uint64_t kArL = 1u << 13;  // CS access rights: 64-bit code segment (SDM Vol 3C Table 25-2)
  if (efer != c.efer || !ia32e || !(v.read(VmcsField::guest_cs_access_rights) & kArL) ||
      c.mode != static_cast<uint8_t>(decode::CpuMode::bits64) ||
      c.cpl != ((v.read(VmcsField::guest_ss_access_rights) >> 5) & 3) || c.apx != guest_rex2_enabled(ctx))
    return false;
  return c.memory_unchanged();
}

// load32_at_rip on a cache hit: the register read through `phys`, the destination written,
// and the instruction retired with its known length — the state the uncached path's emulator
// write-back leaves (RIP past it, RF clear, TF's trap pended, STI/MOV-SS blocking ended; RSP
// written only when it is the destination). False, with nothing changed, on a miss.
bool load32_cached(ExitContext& ctx, guest_memory::GuestPhysMemory& phys, uint64_t gpa, ExitAction* action) {
  const RipDecodeCache& c = ctx.vcpu.rip_cache;
  uint64_t rip;
  if (!cache_hit(ctx, c, &rip)) return false;
  uint8_t bytes[4];
  if (phys.read(gpa, bytes, sizeof bytes) != guest_memory::PhysStatus::ok) return false;
  const uint64_t value = arch::load_le(bytes, 4);  // a 32-bit destination is zero-extended
  ctx.vcpu.regs.gpr[c.match.reg] = value;
  bool ok = c.match.reg != 4 || ctx.vmcs.write(vmx::VmcsField::guest_rsp, value);
  ok = ok && skip_instruction_64(ctx.vmcs, rip, c.match.length);
  *action = ok ? ExitAction::resume() : ExitAction::stop("emulation: VMWRITE failed");
  return true;
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
  if (load32_cached(ctx, phys, gpa, action)) return true;
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
