// Exit reasons 46 (GDTR/IDTR access) and 47 (LDTR/TR access): the descriptor-table guard.
// What each instruction does is in SDM Vol 2A/2B "LGDT/LIDT", "SGDT", "SIDT", "LLDT", "LTR",
// "SLDT", "STR"; the exits in Vol 3C 26.1.3 and 28.2.1/28.2.5; descriptor formats in Vol 3A
// 3.4.5 (Figure 3-8), 3.5 (system descriptor types, Table 3-2; 16-byte forms in IA-32e mode,
// 3.5.2 and Figure 8-4); VMCS segment fields in Vol 3C 25.4.1 (Table 25-2) and the VM-entry
// checks on them in 27.3.1.2-27.3.1.3. The header says which fact comes from where.
#include "vmm/handlers/descriptor_table.hpp"
#include "apexvisor_mutation.h"  // tests/mutation/run only

#include "arch/cr_bits.hpp"
#include "arch/little_endian.hpp"
#include "decode/emulate/segmentation.hpp"
#include "decode/reason.hpp"
#include "vmm/guest_memory/emu_state.hpp"
#include "vmm/guest_memory/guest_linear_memory.hpp"
#include "vmm/handlers/guest_view.hpp"
#include "vmm/handlers/handlers.hpp"
#include "vmm/log/format.hpp"
#include "vmm/log/log.hpp"
#include "vmm/vcpu_registry.hpp"
#include "vmx/instruction_info.hpp"
#include "vmx/controls.hpp"
#include "vmx/memory_operand.hpp"

namespace vmm {
namespace {

using vmx::VmcsField;
namespace emu = decode::emulate;
namespace gm = guest_memory;

constexpr const char* kNames[kDtInsnCount] = {"SGDT", "SIDT", "LGDT", "LIDT", "SLDT", "STR", "LLDT", "LTR"};

static_assert(sizeof(Vcpu::dt_guard_emulated) / sizeof(uint64_t) == kDtInsnCount, "one count per DtInsn");

constexpr bool is_load(DtInsn i) {
  return i == DtInsn::lgdt || i == DtInsn::lidt || i == DtInsn::lldt || i == DtInsn::ltr;
}
constexpr bool is_ldtr_tr(DtInsn i) { return static_cast<unsigned>(i) >= static_cast<unsigned>(DtInsn::sldt); }

bool dt_insn_of(decode::Mnemonic m, DtInsn* out) {
  if (!decode::is_zydis(m)) return false;
  switch (static_cast<ZydisMnemonic>(m)) {
    case ZYDIS_MNEMONIC_SGDT: *out = DtInsn::sgdt; return true;
    case ZYDIS_MNEMONIC_SIDT: *out = DtInsn::sidt; return true;
    case ZYDIS_MNEMONIC_LGDT: *out = DtInsn::lgdt; return true;
    case ZYDIS_MNEMONIC_LIDT: *out = DtInsn::lidt; return true;
    case ZYDIS_MNEMONIC_SLDT: *out = DtInsn::sldt; return true;
    case ZYDIS_MNEMONIC_STR: *out = DtInsn::str; return true;
    case ZYDIS_MNEMONIC_LLDT: *out = DtInsn::lldt; return true;
    case ZYDIS_MNEMONIC_LTR: *out = DtInsn::ltr; return true;
    default: return false;
  }
}

// Access rights of an unusable segment register (SDM Vol 3C 25.4.1, bit 16).
constexpr uint32_t kUnusable = 1u << 16;
// System-descriptor types (Vol 3A 3.5, Table 3-2).
constexpr unsigned kTypeLdt = 2, kTypeTss16Available = 1, kTypeTssAvailable = 9, kTypeTssBusyBit = 2;

// An LDT or TSS descriptor read from the GDT: 8 bytes, 16 in IA-32e mode.
struct Descriptor {
  uint64_t lo = 0, hi = 0;
  unsigned type() const { return (lo >> 40) & 0xf; }
  bool code_or_data() const { return (lo >> 44) & 1; }  // S
  bool present() const { return (lo >> 47) & 1; }
  // Bits 12:8 of the upper half's second dword must be 0 (Vol 3A Figure 8-4, "Type: 0").
  unsigned upper_type() const { return (hi >> 40) & 0x1f; }
  uint32_t limit() const {
    uint32_t l = static_cast<uint32_t>((lo & 0xffff) | ((lo >> 32) & 0xf0000));
    return ((lo >> 55) & 1) ? (l << 12) | 0xfff : l;  // G: 4-KiB units
  }
  uint64_t base(bool wide) const {
    uint64_t b = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24);
    return wide ? b | ((hi & 0xffffffffull) << 32) : b;
  }
  // Descriptor bits 55:40 in the VMCS access-rights layout (type 3:0 ... G 15).
  uint32_t access_rights() const { return static_cast<uint32_t>((lo >> 40) & 0xf0ff); }
};

ExitAction fault(uint8_t vec, uint32_t error) {
  return ExitAction::inject({vec, EventType::hardware_exception, true, error});
}
// #GP(selector) / #NP(selector): the error code is the selector without its RPL (Vol 3A 6.13).
ExitAction gp_selector(uint16_t sel) { return fault(vector::GP, sel & 0xfffc); }
ExitAction np_selector(uint16_t sel) { return fault(vector::NP, sel & 0xfffc); }


// One exit being emulated.
struct Dt {
  ExitContext& ctx;
  gm::GuestLinearMemory& mem;
  emu::EmuContext& emu;
  DtInsn insn;
  bool ia32e;         // IA-32e mode: 16-byte system descriptors (Vol 3A 3.5.2)
  bool mode64;        // 64-bit mode: 10-byte pseudo-descriptors (LGDT/SGDT "64-bit mode")
  bool is_register;   // the operand is a register (SLDT/STR/LLDT/LTR only)
  uint8_t reg;        // its architectural number
  unsigned osize;     // operand size of the instruction, 16/32/64 bits
  emu::Sreg seg;      // memory operand: segment
  uint64_t offset;    //   and effective address
};

// A base loaded into GDTR/IDTR/LDTR/TR: canonical for the processor's linear-address width
// (57 bits where it supports LA57), whatever the guest's paging mode — as hardware checks
// these loads and as VM entry checks the guest's bases (Vol 3C 27.3.1.2-27.3.1.3; Intel's
// 5-level paging white paper, "canonicality checking"; KVM's X86EMUL_F_DT_LOAD). The operand's
// own address is checked against the guest's paging mode (CR4.LA57) by segmentation.
bool base_canonical(const Dt& d, uint64_t base) { return emu::canonical(base, d.ctx.policy.linear_57); }

// Stops the guest CPU with a formatted reason (kept in the vCPU, see Vcpu::stop_detail).
__attribute__((format(printf, 2, 3))) ExitAction stop_with(Dt& d, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(d.ctx.vcpu.stop_detail, sizeof d.ctx.vcpu.stop_detail, fmt, ap);
  va_end(ap);
  return ExitAction::stop(d.ctx.vcpu.stop_detail);
}

// The instruction at RIP no longer matches the exit: fetched again after the exit, its bytes
// were changed by another CPU (or DMA) in between. The processor would execute whatever is
// there now, so the guest re-executes it (KVM retries too). Only a defect could make the same
// exit disagree with the same bytes every time: after kMaxRefetchStreak disagreements in a
// row on this vCPU (2^-64 for a race lost each time) the CPU stops with the reason instead of
// looping.
inline constexpr uint32_t kMaxRefetchStreak = 64;
__attribute__((format(printf, 2, 3))) ExitAction changed_since_exit(Dt& d, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(d.ctx.vcpu.stop_detail, sizeof d.ctx.vcpu.stop_detail, fmt, ap);
  va_end(ap);
  if (++d.ctx.vcpu.dt_guard_refetch_streak >= kMaxRefetchStreak) return ExitAction::stop(d.ctx.vcpu.stop_detail);
  APEX_LOG_GUEST(warn, "cpu%u: %s: the instruction changed since the exit; re-executed", d.ctx.vcpu.index,
                 d.ctx.vcpu.stop_detail);
  return ExitAction::resume();
}

// A guest-memory access either worked or ends the exit with `action` (a fault to inject, a
// retry, a stop).
struct Step {
  bool ok;
  ExitAction action;
};
constexpr Step kOk = {true, ExitAction::resume()};
Step end(ExitAction a) { return {false, a}; }

Step from_status(Dt& d, const gm::MemStatus& s) {
  switch (s.outcome) {
    case gm::MemOutcome::ok: return kOk;
    case gm::MemOutcome::page_fault:
      // VM entry does not load CR2 (Vol 3C 27.3.2): the exit path does, from the vCPU.
      d.ctx.vcpu.cr2 = s.address;
      d.ctx.vcpu.pending.set(pending::cr2);
      return end(fault(vector::PF, s.error_code));
    case gm::MemOutcome::bad_gpa:
      return end(stop_with(d, "dt_guard: %s reaches gpa 0x%llx, which is not guest RAM",
                           kNames[static_cast<unsigned>(d.insn)], static_cast<unsigned long long>(s.address)));
    case gm::MemOutcome::retry: break;
  }
  return end(ExitAction::resume());  // paging structures changed under the walk: re-execute
}

// The instruction's own memory operand: segmentation (limit and type outside 64-bit mode,
// canonical in it: #GP(0), or #SS(0) through SS), alignment (#AC(0)), then the guest's paging
// with the instruction's privilege. The whole operand is one access, so a fault writes nothing.
Step operand_access(Dt& d, void* buf, unsigned bytes, bool write) {
  const emu::Linear l = emu::segment_access(d.emu, d.seg, d.offset, bytes, write);
  if (!l.ok) return end(ExitAction::inject(gm::to_event(l.fault)));
  if (emu::alignment_fault(d.emu, l.address, bytes))
    return end(ExitAction::inject(gm::to_event(emu::Exception::ac0())));
  return from_status(d, write ? d.mem.write(l.address, buf, bytes)
                              : d.mem.read(l.address, buf, bytes, emu::AccessType::read));
}

constexpr gm::Access kDescriptorRead = {emu::AccessType::read, gm::Privilege::implicit_supervisor};
constexpr gm::Access kDescriptorWrite = {emu::AccessType::write, gm::Privilege::implicit_supervisor};

// The GDT entry of `sel` (TI already checked to be 0): #GP(selector) beyond the GDT limit,
// #PF through the guest's paging (implicit supervisor access, Vol 3A 4.6).
Step read_descriptor(Dt& d, uint16_t sel, Descriptor* out) {
  const uint64_t gdt = d.ctx.vmcs.read(VmcsField::guest_gdtr_base);
  const uint64_t limit = d.ctx.vmcs.read(VmcsField::guest_gdtr_limit) & 0xffff;
  const unsigned size = d.ia32e ? 16 : 8;
  const uint64_t offset = sel & 0xfff8;
  if (offset + size - 1 > limit) return end(gp_selector(sel));
  uint8_t raw[16] = {};
  const Step s = from_status(d, d.mem.read(gdt + offset, raw, size, kDescriptorRead));
  if (!s.ok) return s;
  out->lo = arch::load_le(raw, 8);
  out->hi = d.ia32e ? arch::load_le(raw + 8, 8) : 0;
  return kOk;
}

// Counts the emulation and logs it: the first of each instruction on each CPU at info (the
// boot scenario looks for those lines), every one at debug. `fmt` takes up to three values.
void count_and_log(Dt& d, const char* fmt, unsigned long long a = 0, unsigned long long b = 0,
                   unsigned long long c = 0) {
  const unsigned cpu = d.ctx.vcpu.index;
  const unsigned i = static_cast<unsigned>(d.insn);
  if (d.ctx.vcpu.dt_guard_emulated[i]++ == 0)
    APEX_LOG(info, "dt_guard: cpu%u first %s emulated", cpu, kNames[i]);
  if (global_log().level() >= LogLevel::debug) {
    char detail[96];
    format(detail, sizeof detail, fmt, a, b, c);
    APEX_LOG_GUEST(debug, "dt_guard: cpu%u %s %s", cpu, kNames[i], detail);
  }
}

// --- the eight instructions ---------------------------------------------------------------

ExitAction store_table_register(Dt& d) {
  const bool gdt = d.insn == DtInsn::sgdt;
  const uint64_t base = d.ctx.vmcs.read(gdt ? VmcsField::guest_gdtr_base : VmcsField::guest_idtr_base);
  const uint64_t limit = d.ctx.vmcs.read(gdt ? VmcsField::guest_gdtr_limit : VmcsField::guest_idtr_limit) & 0xffff;
  // Limit, then the base: 8 bytes in 64-bit mode, else 4 (the full 32 bits whatever the
  // operand size: Vol 2B SGDT "Operation").
  uint8_t buf[10];
  const unsigned base_bytes = d.mode64 ? 8 : 4;
  arch::store_le(buf, 2, limit);
  arch::store_le(buf + 2, base_bytes, base);
  const Step s = operand_access(d, buf, 2 + base_bytes, true);
  if (!s.ok) return s.action;
  count_and_log(d, "base=0x%llx limit=0x%llx", base & (d.mode64 ? ~0ull : 0xffffffffull), limit);
  return ExitAction::advance();
}

ExitAction load_table_register(Dt& d) {
  const unsigned base_bytes = d.mode64 ? 8 : 4;
  uint8_t buf[10] = {};
  const Step s = operand_access(d, buf, 2 + base_bytes, false);
  if (!s.ok) return s.action;
  const uint16_t limit = static_cast<uint16_t>(arch::load_le(buf, 2));
  uint64_t base = arch::load_le(buf + 2, base_bytes);
  if (!d.mode64 && d.osize == 16) base &= 0x00ffffff;  // Vol 2A LGDT: 16-bit operand, 24-bit base
  // A non-canonical base would make VM entry fail (Vol 3C 27.3.1.3); LGDT/LIDT #GP(0) on it.
  // Canonical for the processor's linear-address width, not the guest's CR4.LA57: a
  // 57-bit base is loaded under 4-level paging where the CPU has LA57 (GuestPolicy::linear_57).
  if (d.mode64 && !base_canonical(d, base)) return ExitAction::gp0();
  const bool gdt = d.insn == DtInsn::lgdt;
  bool ok = d.ctx.vmcs.write(gdt ? VmcsField::guest_gdtr_base : VmcsField::guest_idtr_base, base);
  ok &= d.ctx.vmcs.write(gdt ? VmcsField::guest_gdtr_limit : VmcsField::guest_idtr_limit, limit);
  if (!ok) return ExitAction::stop("dt_guard: VMWRITE of GDTR/IDTR failed");
  count_and_log(d, "base=0x%llx limit=0x%llx", base, limit);
  return ExitAction::advance();
}

ExitAction store_selector(Dt& d) {
  const bool ldt = d.insn == DtInsn::sldt;
  const uint16_t sel =
      static_cast<uint16_t>(d.ctx.vmcs.read(ldt ? VmcsField::guest_ldtr_selector : VmcsField::guest_tr_selector));
  if (d.is_register) {
    // 16-bit operand: the low word only; 32/64-bit: zero-extended (Vol 2B SLDT/STR; a 32-bit
    // destination clears bits 63:32 in 64-bit mode, Vol 1 3.4.1.1).
    const uint64_t old = read_gpr(d.ctx, d.reg);
    if (!write_gpr(d.ctx, d.reg, d.osize == 16 ? (old & ~0xffffull) | sel : sel))
      return ExitAction::stop("dt_guard: VMWRITE of RSP failed");
    count_and_log(d, "selector=0x%llx to r%llu", sel, d.reg);
    return ExitAction::advance();
  }
  uint8_t buf[2];
  arch::store_le(buf, 2, sel);  // a memory destination is always 16 bits
#ifdef APEXVISOR_MUTATION_SLDT_STORES_NOTHING
  if (ldt) return ExitAction::advance();
#endif
  const Step s = operand_access(d, buf, 2, true);
  if (!s.ok) return s.action;
  count_and_log(d, "selector=0x%llx to memory", sel);
  return ExitAction::advance();
}

// LLDT / LTR: the source selector, from the register (low 16 bits) or memory (a word).
Step read_selector(Dt& d, uint16_t* sel) {
  if (d.is_register) {
    *sel = static_cast<uint16_t>(read_gpr(d.ctx, d.reg));
    return kOk;
  }
  uint8_t buf[2] = {};
  const Step s = operand_access(d, buf, 2, false);
  *sel = static_cast<uint16_t>(arch::load_le(buf, 2));
  return s;
}

ExitAction load_ldtr(Dt& d) {
  uint16_t sel = 0;
  Step s = read_selector(d, &sel);
  if (!s.ok) return s.action;
  vmx::VmcsAccess& v = d.ctx.vmcs;
  if ((sel & 0xfffc) == 0) {
    // A null selector leaves LDTR unusable (Vol 2A LLDT; VM entry skips its checks then).
    bool ok = v.write(VmcsField::guest_ldtr_selector, sel);
    ok &= v.write(VmcsField::guest_ldtr_access_rights, kUnusable);
    if (!ok) return ExitAction::stop("dt_guard: VMWRITE of LDTR failed");
    count_and_log(d, "selector=0x%llx (null: LDTR unusable)", sel);
    return ExitAction::advance();
  }
  if (sel & 4) return gp_selector(sel);  // TI=1: must name the GDT
  Descriptor desc;
  s = read_descriptor(d, sel, &desc);
  if (!s.ok) return s.action;
  if (d.ia32e && desc.upper_type() != 0) return gp_selector(sel);
  if (desc.code_or_data() || desc.type() != kTypeLdt) return gp_selector(sel);
  if (!desc.present()) return np_selector(sel);
  const uint64_t base = desc.base(d.ia32e);
  if (d.ia32e && !base_canonical(d, base)) return gp_selector(sel);
  bool ok = v.write(VmcsField::guest_ldtr_selector, sel);
  ok &= v.write(VmcsField::guest_ldtr_base, base);
  ok &= v.write(VmcsField::guest_ldtr_limit, desc.limit());
  ok &= v.write(VmcsField::guest_ldtr_access_rights, desc.access_rights());
  if (!ok) return ExitAction::stop("dt_guard: VMWRITE of LDTR failed");
  count_and_log(d, "selector=0x%llx base=0x%llx limit=0x%llx", sel, base, desc.limit());
  return ExitAction::advance();
}

ExitAction load_tr(Dt& d) {
  uint16_t sel = 0;
  Step s = read_selector(d, &sel);
  if (!s.ok) return s.action;
  if ((sel & 0xfffc) == 0) return ExitAction::gp0();  // Vol 2A LTR: null selector → #GP(0)
  if (sel & 4) return gp_selector(sel);
  Descriptor desc;
  s = read_descriptor(d, sel, &desc);
  if (!s.ok) return s.action;
  if (d.ia32e && desc.upper_type() != 0) return gp_selector(sel);
  // An available TSS; the 16-bit kind only outside IA-32e mode. A busy one is #GP(selector).
  const bool available = !desc.code_or_data() &&
                         (desc.type() == kTypeTssAvailable || (!d.ia32e && desc.type() == kTypeTss16Available));
  if (!available) return gp_selector(sel);
  if (!desc.present()) return np_selector(sel);
  const uint64_t base = desc.base(d.ia32e);
  if (d.ia32e && !base_canonical(d, base)) return gp_selector(sel);

  // Mark the descriptor busy with a locked update of its type byte, as the processor does
  // (Vol 2A LTR "the TSS is marked busy"; Vol 3A 9.1.2.1 locks descriptor updates). Another
  // CPU that got there first makes this one re-execute LTR, which then sees a busy TSS.
  const uint64_t type_byte = d.ctx.vmcs.read(VmcsField::guest_gdtr_base) + (sel & 0xfff8) + 5;
  const gm::Translation t = d.mem.translate(type_byte, kDescriptorWrite);
  if (!t.ok()) return from_status(d, gm::status_of(t, type_byte)).action;
  const uint64_t old = (desc.lo >> 40) & 0xff;
  uint64_t observed = 0;
  if (d.ctx.policy.guest_ram->cmpxchg(t.gpa, 1, old, old | kTypeTssBusyBit, &observed) != gm::PhysStatus::ok)
    return from_status(d, {gm::MemOutcome::bad_gpa, 0, t.gpa}).action;
  if (observed != old) return ExitAction::resume();

  vmx::VmcsAccess& v = d.ctx.vmcs;
  bool ok = v.write(VmcsField::guest_tr_selector, sel);
  ok &= v.write(VmcsField::guest_tr_base, base);
  ok &= v.write(VmcsField::guest_tr_limit, desc.limit());
  ok &= v.write(VmcsField::guest_tr_access_rights, desc.access_rights() | kTypeTssBusyBit);
  if (!ok) return ExitAction::stop("dt_guard: VMWRITE of TR failed");
  count_and_log(d, "selector=0x%llx base=0x%llx limit=0x%llx", sel, base, desc.limit());
  return ExitAction::advance();
}

// --- from the exit to one of the above --------------------------------------------------

// The first explicit operand (SGDT & co. also list GDTR/IDTR/LDTR/TR as hidden operands).
const decode::Operand* explicit_operand(const decode::Instruction& insn) {
  for (unsigned i = 0; i < insn.operand_count; ++i)
    if (insn.operands[i].visibility == decode::Visibility::explicit_) return &insn.operands[i];
  return nullptr;
}

// The memory operand's segment and effective address from the instruction information and
// the exit qualification, checked against the decoded instruction.
ExitAction locate_memory_operand(Dt& d, const vmx::InstructionInfo& info, const decode::Instruction& insn,
                                 const decode::Mem& m, bool* ok) {
  *ok = false;
  const uint64_t next_rip = d.emu.rip + insn.length;
  const uint64_t decoded_ea = emu::effective_address(m, d.emu.gpr, next_rip);
  const char* name = kNames[static_cast<unsigned>(d.insn)];
  if (info.segment == vmx::SegmentReg::invalid || static_cast<unsigned>(info.segment) != m.segment.num)
    return changed_since_exit(d, "dt_guard: %s: info segment %u, instruction at RIP uses %u", name,
                              static_cast<unsigned>(info.segment), static_cast<unsigned>(m.segment.num));
  if (m.rip_relative()) {
    // The base field can only name a GPR: the information says "no base, no index", and the
    // qualification holds the displacement (SDM 28.2.1; Bochs 2.7 adds the next RIP to it).
    const uint64_t amask = m.addr_bits == 64 ? ~0ull : 0xffffffffull;
    const uint64_t q = d.ctx.vmcs.read(VmcsField::exit_qualification) & amask;
    if (info.base_valid || info.index_valid || (q != (static_cast<uint64_t>(m.disp) & amask) && q != decoded_ea))
      return changed_since_exit(d, "dt_guard: %s: RIP-relative operand, but info 0x%llx qualification 0x%llx", name,
                                static_cast<unsigned long long>(info.raw), static_cast<unsigned long long>(q));
    d.offset = decoded_ea;
  } else {
    const vmx::MemoryOperand mo = vmx::read_memory_operand(d.ctx.vmcs, info, d.ctx.vcpu.regs);
    if (!mo.ok() || mo.offset != decoded_ea)
      return changed_since_exit(d, "dt_guard: %s: address from info 0x%llx (status %u), from the instruction 0x%llx", name,
                                static_cast<unsigned long long>(mo.offset), static_cast<unsigned>(mo.status),
                                static_cast<unsigned long long>(decoded_ea));
    d.offset = mo.offset;
  }
  d.seg = static_cast<emu::Sreg>(m.segment.num);
  *ok = true;
  return ExitAction::resume();
}

ExitAction emulate_descriptor_table(ExitContext& ctx, vmx::InsnInfoKind kind) {
  if (!ctx.policy.guest_ram) return ExitAction::stop("dt_guard: no access to guest memory (GuestPolicy::guest_ram)");
  const vmx::InstructionInfo info = vmx::read_instruction_info(ctx.vmcs, ctx.policy.exit_info_form, kind);
  gm::GuestLinearMemory mem(*ctx.policy.guest_ram, gm::read_paging_state(ctx.vmcs, 52));
  emu::EmuContext emu;
  gm::read_emu_context(ctx.vmcs, ctx.vcpu.regs, mem, emu);
  Dt d{ctx, mem, emu, DtInsn::sgdt, false, false, false, 0, 0, emu::Sreg::ds, 0};
  d.ia32e = (ctx.vmcs.read(VmcsField::vm_entry_controls) & vmx::entry_ctl::ia32e_mode_guest) != 0;
  d.mode64 = emu.mode == decode::CpuMode::bits64;

  // The instruction at RIP (REX2 decodes only with the guest's XCR0.APX set).
  decode::Instruction insn;
  const emu::Result f = emu::fetch_instruction(emu, guest_rex2_enabled(ctx), insn);
  if (f.outcome == emu::Outcome::fault) {
    // It was fetched a moment ago: its paging changed since. The processor would fault now.
    if (f.exception.vector == emu::vector::PF) {
      ctx.vcpu.cr2 = f.exception.cr2;
      ctx.vcpu.pending.set(pending::cr2);
    }
    return ExitAction::inject(gm::to_event(f.exception));
  }
  if (f.outcome == emu::Outcome::retry) return ExitAction::resume();
  const unsigned long long rip = emu.rip;
  if (f.outcome != emu::Outcome::ok)
    return stop_with(d, "dt_guard: cannot fetch the instruction at RIP 0x%llx (%s)", rip, emu::outcome_name(f.outcome));
  // Bytes the decoder rejects raise what the CPU raises for them (#UD: e.g. SLDT in real mode,
  // REX2 with XCR0.APX=0; #GP(0): longer than 15 bytes), which in hardware comes before the
  // exit (SDM 26.1.1), so only changed code bytes get here.
  if (insn.fault == decode::Fault::ud) return ExitAction::ud();
  if (insn.fault == decode::Fault::gp) return ExitAction::gp0();
  const bool ldtr_tr_exit = kind == vmx::InsnInfoKind::ldtr_tr;
  if (!insn.ok() || !dt_insn_of(insn.mnemonic, &d.insn) || is_ldtr_tr(d.insn) != ldtr_tr_exit)
    return changed_since_exit(d, "dt_guard: exit %u, but RIP 0x%llx holds %s", ldtr_tr_exit ? 47u : 46u, rip,
                              insn.ok() ? decode::mnemonic_name(insn.mnemonic) : decode::reason_text(insn.reason));
  const char* name = kNames[static_cast<unsigned>(d.insn)];
  const unsigned identity = static_cast<unsigned>(d.insn) & 3;
  if (info.has(vmx::insn_field::identity) && info.identity != identity)
    return changed_since_exit(d, "dt_guard: info identity %u, RIP 0x%llx holds %s", static_cast<unsigned>(info.identity), rip,
                              name);
  const uint64_t exit_length = ctx.vmcs.read(VmcsField::vm_exit_instruction_length);
  if (insn.length != exit_length)
    return changed_since_exit(d, "dt_guard: %s: exit length %llu, decoded %u", name,
                              static_cast<unsigned long long>(exit_length), static_cast<unsigned>(insn.length));
  const decode::Operand* op = explicit_operand(insn);
  if (!op || (op->kind != decode::OperandKind::reg && op->kind != decode::OperandKind::mem))
    return changed_since_exit(d, "dt_guard: %s without a register or memory operand", name);
  d.is_register = op->kind == decode::OperandKind::reg;
  if (d.is_register != info.is_register)
    return changed_since_exit(d, "dt_guard: %s: info says %s operand, the instruction has %s", name,
                              info.is_register ? "register" : "memory", d.is_register ? "register" : "memory");
  d.osize = insn.operand_bits;

  // Faults that come before the access (in hardware they even come before the VM exit,
  // SDM 26.1.1; checked anyway so that the emulation stands alone):
  // not recognised in real-address or virtual-8086 mode (Vol 2A LLDT/LTR, Vol 2B SLDT/STR);
  if (ldtr_tr_exit && emu.real_or_v86) return ExitAction::ud();
  // loads need CPL 0; stores at CPL > 0 need CR4.UMIP clear (Vol 3A 2.5 "UMIP").
  if (is_load(d.insn) && emu.cpl != 0) return ExitAction::gp0();
  if (!is_load(d.insn) && emu.cpl != 0 && (ctx.vmcs.read(VmcsField::guest_cr4) & arch::cr4::UMIP))
    return ExitAction::gp0();

  if (d.is_register) {
    if (info.has(vmx::insn_field::reg1) && info.reg1 != op->reg.num)
      return changed_since_exit(d, "dt_guard: %s: info register %u, the instruction names %u", name,
                                static_cast<unsigned>(info.reg1), static_cast<unsigned>(op->reg.num));
    d.reg = op->reg.num;
  } else {
    bool located = false;
    const ExitAction a = locate_memory_operand(d, info, insn, op->mem, &located);
    if (!located) return a;
  }
  ctx.vcpu.dt_guard_refetch_streak = 0;  // the exit and the bytes at RIP agree

  switch (d.insn) {
    case DtInsn::sgdt:
    case DtInsn::sidt: return store_table_register(d);
    case DtInsn::lgdt:
    case DtInsn::lidt: return load_table_register(d);
    case DtInsn::sldt:
    case DtInsn::str: return store_selector(d);
    case DtInsn::lldt: return load_ldtr(d);
    case DtInsn::ltr: return load_tr(d);
    case DtInsn::count: break;
  }
  return ExitAction::stop("dt_guard: unknown instruction");
}

}  // namespace

const char* dt_insn_name(DtInsn insn) {
  const unsigned i = static_cast<unsigned>(insn);
  return i < kDtInsnCount ? kNames[i] : "?";
}

uint64_t dt_guard_count(const Vcpu& vcpu, DtInsn insn) {
  const unsigned i = static_cast<unsigned>(insn);
  return i < kDtInsnCount ? vcpu.dt_guard_emulated[i] : 0;
}

ExitAction handle_gdtr_idtr_access(ExitContext& ctx) {
  return emulate_descriptor_table(ctx, vmx::InsnInfoKind::descriptor_table);
}

ExitAction handle_ldtr_tr_access(ExitContext& ctx) {
  return emulate_descriptor_table(ctx, vmx::InsnInfoKind::ldtr_tr);
}

}  // namespace vmm
