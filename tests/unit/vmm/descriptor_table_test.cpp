// Exit reasons 46/47, the descriptor-table guard (vmm/handlers/descriptor_table.cpp): every
// instruction in register and memory forms, 16/32/64-bit operand and address sizes, real,
// protected and 64-bit mode, both instruction-information forms, and the faults (SDM Vol 2A/2B
// LGDT/LIDT, SGDT, SIDT, LLDT, LTR, SLDT, STR; Vol 3C 26.1.3, 28.2.1, 28.2.5).
//
// Each row is one guest instruction: its bytes at RIP, the exit information the CPU would
// record for it (spelled field by field and encoded below in either form, independently of
// vmx/instruction_info), the registers, and what must happen. Rows run through the real
// dispatcher in the legacy form and again in the extended form (rows with R16-R31 only in the
// extended one), against a FakeVmcs and guest memory made of fake pages with real page tables.
#include <functional>
#include <memory>
#include <vector>

#include "emulate/emulate_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmx/guest_segment_fields.hpp"
#include "vmm/handlers/descriptor_table.hpp"
#include "vmm/log/log.hpp"

using namespace vmm_test;
using vmx::ExitInfoForm;
using vmx::ExitReason;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint64_t kRip = 0x1000;
constexpr uint64_t kData = 0x3000;     // a data page
constexpr uint64_t kUnmapped = 0x9000;  // not present in the guest's page tables / not RAM unpaged
constexpr uint64_t kGdt = 0x8000;
constexpr uint16_t kGdtLimit = 0x7f;
constexpr uint64_t kIdtBase = 0xffff800000001000ull;
constexpr uint16_t kIdtLimit = 0xfff;
constexpr uint16_t kLdtr = 0x28, kTr = 0x30;
constexpr uint8_t kPoison = 0xee;  // what data memory holds before the instruction

// GDT entries (selector → descriptor) the rows use. 16-byte system descriptors in IA-32e mode.
constexpr uint16_t kSelCode = 0x08, kSelLdt = 0x40, kSelLdtAbsent = 0x50, kSelTss = 0x60, kSelBusyTss = 0x70;

enum class K { advance, fault, stop, resume };
struct Expect {
  K kind = K::advance;
  uint8_t vector = 0;
  int64_t error = -1;  // -1: no error code
};
constexpr Expect kAdvance{};
constexpr Expect kStop{K::stop};
constexpr Expect kResume{K::resume};
constexpr Expect fault(uint8_t v, int64_t e = -1) { return {K::fault, v, e}; }
constexpr Expect gp(int64_t e = 0) { return fault(vmm::vector::GP, e); }

// The exit information field by field (SDM 28.2.5 tables; extended layout: spec.md §4.2).
struct Info {
  int base = -1, index = -1;  // -1: invalid
  unsigned scale = 0;
  unsigned asize = 2;  // 0 = 16, 1 = 32, 2 = 64 bits
  unsigned seg = 3;    // DS
  bool reg_form = false;
  unsigned reg1 = 0;
  unsigned osize = 0;     // LGDT & co.: 0 = 16-bit, 1 = 32-bit
  unsigned identity = 0;  // legacy bits 29:28
};

uint64_t encode(const Info& i, ExitInfoForm form) {
  uint64_t v = i.scale & 3;
  if (form == ExitInfoForm::legacy) {
    v |= uint64_t{i.reg1 & 0xf} << 3 | uint64_t{i.asize & 7} << 7 | uint64_t{i.reg_form} << 10 |
         uint64_t{i.osize & 3} << 11 | uint64_t{i.seg & 7} << 15 | uint64_t{i.identity & 3} << 28;
    v |= i.index < 0 ? 1ull << 22 : uint64_t(i.index & 0xf) << 18;
    v |= i.base < 0 ? 1ull << 27 : uint64_t(i.base & 0xf) << 23;
  } else {
    v |= uint64_t{i.asize & 3} << 2 | uint64_t{i.reg_form} << 4 | uint64_t{i.osize & 3} << 5 |
         uint64_t{i.seg & 7} << 7 | uint64_t{i.reg1 & 0x1f} << 16;
    v |= i.index < 0 ? 1ull << 10 : uint64_t(i.index & 0x1f) << 24;
    v |= i.base < 0 ? 1ull << 11 : uint64_t(i.base & 0x1f) << 32;
  }
  return v;
}

// An 8-byte code/data descriptor or a system descriptor (16 bytes when `wide`); `flags` are
// descriptor bits 55:52 (G D/B L AVL), `upper_type` bits 12:8 of the upper half's second dword.
constexpr unsigned kG = 8;
void put_descriptor(emu_test::FakePhys& phys, uint64_t at, uint64_t base, uint32_t limit, unsigned type, bool s,
                    bool present, bool wide, unsigned upper_type = 0, unsigned flags = 0) {
  const uint64_t lo = (limit & 0xffffull) | ((base & 0xffffffull) << 16) | (uint64_t{type} << 40) |
                      (uint64_t{s} << 44) | (uint64_t{present} << 47) | (uint64_t{(limit >> 16) & 0xf} << 48) |
                      (uint64_t{flags & 0xf} << 52) | (((base >> 24) & 0xff) << 56);
  phys.poke64(at, lo);
  if (wide) phys.poke64(at + 8, (base >> 32) | (uint64_t{upper_type} << 40));
}

struct DtFixture : HandlerFixture {
  emu_test::FakePhys phys;
  vmm::guest_memory::GuestPhysView view{&phys, nullptr, exit_now};  // RAM only: no special pages
  std::unique_ptr<emu_test::PageTables> tables;
  Mode mode;

  explicit DtFixture(Mode m) : mode(m) {
    policy.guest_ram = &view;
    policy.dt_guard = true;
    set_mode(m);
    const bool paged = m == Mode::long64 || m == Mode::compat32;
    if (paged) {
      tables = std::make_unique<emu_test::PageTables>(phys, emu_test::PageTables::Mode::level4, 0x100000);
      vmcs.set(VmcsField::guest_cr3, tables->cr3());
      using namespace vmm::guest_memory;
      for (uint64_t p = 0; p < 0x10000; p += 0x1000)
        if (p != kUnmapped) tables->map(p, p, pte::P | pte::RW | pte::US);
      tables->map(0xa000, 0x70000000, pte::P | pte::RW);  // a GPA that is not guest RAM
      phys.map_ram(0, 0x10000);
    } else {
      for (uint64_t p = 0; p < 0x10000; p += 0x1000)
        if (p != kUnmapped) phys.map_ram(p, 0x1000);
    }
    for (uint64_t a = kData; a < kData + 0x1000; a += 8) phys.poke64(a, 0xeeeeeeeeeeeeeeeeull);
    set_segments();
    vmcs.set(VmcsField::guest_rip, kRip);
    vmcs.set(VmcsField::guest_gdtr_base, kGdt);
    vmcs.set(VmcsField::guest_gdtr_limit, kGdtLimit);
    vmcs.set(VmcsField::guest_idtr_base, paged ? kIdtBase : 0x7000);
    vmcs.set(VmcsField::guest_idtr_limit, kIdtLimit);
    vmcs.set(VmcsField::guest_ldtr_selector, kLdtr);
    vmcs.set(VmcsField::guest_tr_selector, kTr);
    const bool wide = paged;
    put_descriptor(phys, kGdt + kSelCode, 0, 0xfffff, 0xb, true, true, false);
    phys.poke64(kGdt + kSelCode + 8, 0x00cf93000000ffffull);  // a data descriptor after it
    put_descriptor(phys, kGdt + kSelLdt, 0xffff800000200000ull, 0xfff, 2, false, true, wide);
    put_descriptor(phys, kGdt + kSelLdtAbsent, 0x200000, 0xfff, 2, false, false, wide);
    put_descriptor(phys, kGdt + kSelTss, 0xffff800000300000ull, 0x67, 9, false, true, wide);
    put_descriptor(phys, kGdt + kSelBusyTss, 0x300000, 0x67, 11, false, true, wide);
  }

  // Flat data segments (real mode: base = selector << 4, 64 KiB), as VM exits store them.
  void set_segments() {
    const bool real = mode == Mode::real;
    for (unsigned i = 0; i < 6; ++i) {
      const vmx::GuestSegmentFields& f = vmx::kGuestSegments[i];
      vmcs.set(f.base, 0);
      vmcs.set(f.limit, real ? 0xffff : 0xffffffff);
      if (i != 1 && i != 2) vmcs.set(f.access_rights, real ? 0x93 : 0xc093);
    }
    vmcs.set(VmcsField::guest_cs_limit, real ? 0xffff : 0xffffffff);
  }
};

struct Row {
  const char* what;
  Mode mode;
  ExitReason reason;
  Bytes code;
  Info info;
  uint64_t qual = 0;
  std::vector<std::pair<unsigned, uint64_t>> regs = {};
  Expect expect = kAdvance;
  std::function<void(DtFixture&)> setup = nullptr;
  std::function<void(DtFixture&)> verify = nullptr;
  bool extended_only = false;  // R16-R31: only the extended form can name them
  bool legacy_only = false;    // about the identity bits, which only the legacy form has
  int64_t length = -1;         // VM-exit instruction length (default: code.size())
};

constexpr ExitReason kGdtrIdtr = ExitReason::gdtr_idtr_access;
constexpr ExitReason kLdtrTr = ExitReason::ldtr_tr_access;
constexpr unsigned RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, R9 = 9;

uint64_t peek(DtFixture& f, uint64_t a, unsigned n) { return f.phys.peek(a, n); }

void run(const Row& r, ExitInfoForm form) {
  CAPTURE(r.what, form == ExitInfoForm::legacy ? "legacy" : "extended");
  DtFixture f(r.mode);
  f.policy.exit_info_form = form;
  f.phys.poke(kRip, r.code.data(), r.code.size());
  f.vmcs.set(VmcsField::vm_exit_instruction_length, r.length >= 0 ? uint64_t(r.length) : r.code.size());
  f.vmcs.set(VmcsField::exit_qualification, r.qual);
  f.vmcs.set(form == ExitInfoForm::legacy ? VmcsField::vm_exit_instruction_info : VmcsField::extended_instruction_info,
             encode(r.info, form));
  for (unsigned i = 0; i < 32; ++i) f.vcpu.regs.gpr[i] = 0xbad0000000000000ull | (i << 4);  // decoys
  for (auto [n, v] : r.regs) {
    f.vcpu.regs.gpr[n] = v;
    if (n == RSP) f.vmcs.set(VmcsField::guest_rsp, v);
  }
  if (r.setup) r.setup(f);
  const uint64_t len = f.vmcs.get(VmcsField::vm_exit_instruction_length);
  const uint64_t rip = f.vmcs.get(VmcsField::guest_rip);

  const vmm::ExitAction a = f.exit(r.reason);
  switch (r.expect.kind) {
    case K::advance:
      REQUIRE(a.kind == vmm::ExitAction::Kind::advance_rip);
      CHECK(f.vmcs.get(VmcsField::guest_rip) == rip + len);
      break;
    case K::resume:
      CHECK(a.kind == vmm::ExitAction::Kind::resume);
      CHECK(f.vmcs.get(VmcsField::guest_rip) == rip);
      break;
    case K::stop:
      CHECK(a.kind == vmm::ExitAction::Kind::stop);
      if (a.reason) INFO("stop reason: " << a.reason);
      break;
    case K::fault:
      REQUIRE(a.kind == vmm::ExitAction::Kind::inject);
      CHECK(int(a.event.vector) == int(r.expect.vector));
      CHECK(a.event.type == vmm::EventType::hardware_exception);
      CHECK(a.event.has_error_code == (r.expect.error >= 0));
      if (r.expect.error >= 0) CHECK(int64_t(a.event.error_code) == r.expect.error);
      CHECK(f.vmcs.get(VmcsField::guest_rip) == rip);
      break;
  }
  if (r.verify) r.verify(f);
}

void run_rows(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    if (!r.extended_only) run(r, ExitInfoForm::legacy);
    if (!r.legacy_only) run(r, ExitInfoForm::extended);
  }
}

// Bytes of a pseudo-descriptor and of memory around it.
void poke_pseudo(DtFixture& f, uint64_t at, uint16_t limit, uint64_t base, unsigned base_bytes) {
  uint8_t b[10];
  for (unsigned i = 0; i < 2; ++i) b[i] = uint8_t(limit >> (8 * i));
  for (unsigned i = 0; i < base_bytes; ++i) b[2 + i] = uint8_t(base >> (8 * i));
  f.phys.poke(at, b, 2 + base_bytes);
}
std::function<void(DtFixture&)> expect_gdtr(uint64_t base, uint16_t limit) {
  return [=](DtFixture& f) {
    CHECK(f.vmcs.get(VmcsField::guest_gdtr_base) == base);
    CHECK(f.vmcs.get(VmcsField::guest_gdtr_limit) == limit);
  };
}
std::function<void(DtFixture&)> expect_idtr(uint64_t base, uint16_t limit) {
  return [=](DtFixture& f) {
    CHECK(f.vmcs.get(VmcsField::guest_idtr_base) == base);
    CHECK(f.vmcs.get(VmcsField::guest_idtr_limit) == limit);
  };
}
// `n` bytes at `at` hold `value`, the next byte is untouched.
std::function<void(DtFixture&)> expect_mem(uint64_t at, uint64_t value, unsigned n) {
  return [=](DtFixture& f) {
    CHECK(peek(f, at, n) == value);
    CHECK(peek(f, at + n, 1) == kPoison);
  };
}
// A stored pseudo-descriptor: limit, then `base_bytes` of base, then untouched memory.
std::function<void(DtFixture&)> expect_pseudo(uint64_t at, uint16_t limit, uint64_t base, unsigned base_bytes) {
  return [=](DtFixture& f) {
    CHECK(peek(f, at, 2) == limit);
    CHECK(peek(f, at + 2, base_bytes) == (base_bytes == 8 ? base : base & 0xffffffffull));
    CHECK(peek(f, at + 2 + base_bytes, 1) == kPoison);
  };
}
std::function<void(DtFixture&)> expect_untouched(uint64_t at) {
  return [=](DtFixture& f) { CHECK(peek(f, at, 8) == 0xeeeeeeeeeeeeeeeeull); };
}
std::function<void(DtFixture&)> expect_reg(unsigned n, uint64_t value) {
  return [=](DtFixture& f) { CHECK(f.vcpu.regs.gpr[n] == value); };
}
std::function<void(DtFixture&)> gdtr_unchanged() { return expect_gdtr(kGdt, kGdtLimit); }
std::function<void(DtFixture&)> set_cpl(unsigned cpl, bool umip = false) {
  return [=](DtFixture& f) {
    f.set_cpl(cpl);
    if (umip) f.set_cr4(f.vmcs.get(VmcsField::cr4_read_shadow) | cr4::UMIP);
  };
}
std::function<void(DtFixture&)> both(std::function<void(DtFixture&)> a, std::function<void(DtFixture&)> b) {
  return [=](DtFixture& f) {
    a(f);
    b(f);
  };
}

// info shorthands: the memory operand [base] in DS (identity id), a register operand.
Info mem(unsigned id, int base, unsigned asize = 2, unsigned seg = 3) {
  Info i;
  i.identity = id;
  i.base = base;
  i.asize = asize;
  i.seg = seg;
  return i;
}
Info reg(unsigned id, unsigned r) {
  Info i;
  i.identity = id;
  i.reg_form = true;
  i.reg1 = r;
  return i;
}

}  // namespace

TEST_CASE("dt_guard: SGDT/SIDT in 64-bit mode store limit and 8-byte base, every addressing form") {
  const uint64_t next_sgdt_rip = kRip + 7;
  Info sib = mem(1, RBX);
  sib.index = RCX;
  sib.scale = 3;
  Info rip_rel = mem(0, -1);
  Info a32 = mem(0, RBX, 1);
  a32.index = RCX;
  a32.scale = 1;
  Info fs = mem(0, RAX, 2, 4);
  run_rows({
      {"SGDT [rax]", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0, {{RAX, kData}}, kAdvance, nullptr,
       expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SIDT [rbx+rcx*8+0x10]", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x4c, 0xcb, 0x10}, sib, 0x10,
       {{RBX, kData - 0x10 - 3 * 8}, {RCX, 3}}, kAdvance, nullptr,
       expect_pseudo(kData, kIdtLimit, kIdtBase, 8)},
      {"SGDT [rip+disp32]: qualification = displacement (SDM 28.2.1)", Mode::long64, kGdtrIdtr,
       {0x0f, 0x01, 0x05, 0xf9, 0x1f, 0x00, 0x00}, rip_rel, kData - next_sgdt_rip, {}, kAdvance, nullptr,
       expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SGDT [rip+disp32]: qualification = next RIP + displacement (Bochs 2.7)", Mode::long64, kGdtrIdtr,
       {0x0f, 0x01, 0x05, 0xf9, 0x1f, 0x00, 0x00}, rip_rel, kData, {}, kAdvance, nullptr,
       expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SGDT [ebx+ecx*2+8] (67): the address is 32 bits, bits 63:32 of the registers ignored", Mode::long64,
       kGdtrIdtr, {0x67, 0x0f, 0x01, 0x44, 0x4b, 0x08}, a32, 8,
       {{RBX, 0xdead000000000000ull | (kData - 8 - 2 * 4)}, {RCX, 0xbeef000000000004ull}}, kAdvance, nullptr,
       expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SGDT fs:[rax]: the FS base is added", Mode::long64, kGdtrIdtr, {0x64, 0x0f, 0x01, 0x00}, fs, 0,
       {{RAX, kData - 0x1000}}, kAdvance, [](DtFixture& f) { f.vmcs.set(VmcsField::guest_fs_base, 0x1000); },
       expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SGDT [rax] at CPL 3 without UMIP", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0,
       {{RAX, kData}}, kAdvance, set_cpl(3), expect_pseudo(kData, kGdtLimit, kGdt, 8)},
      {"SIDT [rax] at CPL 3 with CR4.UMIP: #GP(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x08}, mem(1, RAX), 0,
       {{RAX, kData}}, gp(), set_cpl(3, true), expect_untouched(kData)},
      {"SGDT at CPL 0 with CR4.UMIP", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0, {{RAX, kData}},
       kAdvance, set_cpl(0, true), expect_pseudo(kData, kGdtLimit, kGdt, 8)},
  });
}

TEST_CASE("dt_guard: memory faults of the operand") {
  Info ss = mem(0, RSP, 2, 2);
  run_rows({
      {"SGDT into a not-present page: #PF(W), CR2", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0,
       {{RAX, kUnmapped + 0x10}}, fault(vmm::vector::PF, 0x2), nullptr,
       [](DtFixture& f) {
         CHECK(f.vcpu.pending.has(vmm::pending::cr2));
         CHECK(f.vcpu.cr2 == kUnmapped + 0x10);
       }},
      {"SGDT at CPL 3 into a not-present page: #PF(U|W)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX),
       0, {{RAX, kUnmapped}}, fault(vmm::vector::PF, 0x6), set_cpl(3)},
      {"SGDT straddling into a not-present page: #PF at the page, nothing written", Mode::long64, kGdtrIdtr,
       {0x0f, 0x01, 0x00}, mem(0, RAX), 0, {{RAX, kUnmapped - 4}}, fault(vmm::vector::PF, 0x2), nullptr,
       [](DtFixture& f) {
         CHECK(f.vcpu.cr2 == kUnmapped);
         CHECK(peek(f, kUnmapped - 4, 4) == 0);
       }},
      {"LGDT from a not-present page: #PF(R)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(2, RAX), 0,
       {{RAX, kUnmapped}}, fault(vmm::vector::PF, 0), nullptr, gdtr_unchanged()},
      {"SGDT [rax] non-canonical: #GP(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0,
       {{RAX, 0x8000000000000000ull}}, gp()},
      {"SGDT [rsp] non-canonical through SS: #SS(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x04, 0x24}, ss, 0,
       {{RSP, 0x8000000000000000ull}}, fault(vmm::vector::SS, 0)},
      {"SGDT onto memory that is not guest RAM: stop", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0,
       {{RAX, 0xa000}}, kStop},
      {"SLDT m16 at CPL 3 with CR0.AM and RFLAGS.AC, misaligned: #AC(0)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x00},
       mem(0, RAX), 0, {{RAX, kData + 1}}, fault(17, 0), [](DtFixture& f) {
         f.set_cpl(3);
         f.set_cr0(f.vmcs.get(VmcsField::cr0_read_shadow) | cr0::AM);
         f.vmcs.set(VmcsField::guest_rflags, arch::rflags::FIXED1 | arch::rflags::AC);
       }},
  });
}

TEST_CASE("dt_guard: LGDT/LIDT in 64-bit mode load a 10-byte pseudo-descriptor") {
  Info r16 = mem(3, 16);
  run_rows({
      {"LGDT [rax]", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(2, RAX), 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { poke_pseudo(f, kData, 0x1234, 0xffff800012345000ull, 8); },
       expect_gdtr(0xffff800012345000ull, 0x1234)},
      {"LIDT [r16] (REX2)", Mode::long64, kGdtrIdtr, {0xd5, 0x90, 0x01, 0x18}, r16, 0, {{16, kData}}, kAdvance,
       [](DtFixture& f) {
         f.vcpu.xstate.save_egprs = true;  // guest XCR0.APX=1: REX2 decodes
         poke_pseudo(f, kData, 0xfff, 0x5000, 8);
       },
       expect_idtr(0x5000, 0xfff), true},
      {"LGDT of a non-canonical base: #GP(0), GDTR unchanged", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10},
       mem(2, RAX), 0, {{RAX, kData}}, gp(),
       [](DtFixture& f) { poke_pseudo(f, kData, 0x1234, 0x0000800000000000ull, 8); }, gdtr_unchanged()},
      {"LGDT at CPL 3: #GP(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(2, RAX), 0, {{RAX, kData}}, gp(),
       set_cpl(3), gdtr_unchanged()},
      {"LIDT with a 66 prefix in 64-bit mode still loads 8 bytes of base", Mode::long64, kGdtrIdtr,
       {0x66, 0x0f, 0x01, 0x18}, mem(3, RAX), 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { poke_pseudo(f, kData, 0x7ff, 0xffff800000abc000ull, 8); },
       expect_idtr(0xffff800000abc000ull, 0x7ff)},
  });
}

TEST_CASE("dt_guard: protected mode (32-bit code, no paging): 6-byte pseudo-descriptors, segment checks") {
  Info o32 = mem(2, RAX, 1);
  o32.osize = 1;
  Info o16 = mem(2, RAX, 1);
  Info ebp = mem(1, RBP, 1, 2);
  run_rows({
      {"LGDT [eax], 32-bit operand: 32-bit base", Mode::prot32_unpaged, kGdtrIdtr, {0x0f, 0x01, 0x10}, o32, 0,
       {{RAX, kData}}, kAdvance, [](DtFixture& f) { poke_pseudo(f, kData, 0x3ff, 0xfedcba98, 4); },
       expect_gdtr(0xfedcba98, 0x3ff)},
      {"LGDT [eax], 32-bit operand, info operand-size 0 (Bochs 2.7): the instruction decides", Mode::prot32_unpaged,
       kGdtrIdtr, {0x0f, 0x01, 0x10}, o16, 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { poke_pseudo(f, kData, 0x3ff, 0xfedcba98, 4); }, expect_gdtr(0xfedcba98, 0x3ff)},
      {"LGDT [eax] with 66 (16-bit operand): 24-bit base", Mode::prot32_unpaged, kGdtrIdtr, {0x66, 0x0f, 0x01, 0x10},
       o16, 0, {{RAX, kData}}, kAdvance, [](DtFixture& f) { poke_pseudo(f, kData, 0x3ff, 0xfedcba98, 4); },
       expect_gdtr(0xdcba98, 0x3ff)},
      {"SGDT [eax]: limit and 4 bytes of base", Mode::prot32_unpaged, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX, 1),
       0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_gdtr_base, 0x12345678); },
       expect_pseudo(kData, kGdtLimit, 0x12345678, 4)},
      {"SGDT past the DS limit: #GP(0)", Mode::prot32_unpaged, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX, 1), 0,
       {{RAX, 0x2ffc}}, gp(), [](DtFixture& f) { f.vmcs.set(VmcsField::guest_ds_limit, 0x2fff); },
       [](DtFixture& f) { CHECK(peek(f, 0x2ffc, 4) == 0); }},
      {"SIDT [ebp] past the SS limit: #SS(0)", Mode::prot32_unpaged, kGdtrIdtr, {0x0f, 0x01, 0x4d, 0x00}, ebp, 0,
       {{RBP, 0x2ffc}}, fault(vmm::vector::SS, 0),
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_ss_limit, 0x2fff); }},
      {"SGDT into a read-only data segment: #GP(0)", Mode::prot32_unpaged, kGdtrIdtr, {0x0f, 0x01, 0x00},
       mem(0, RAX, 1), 0, {{RAX, kData}}, gp(),
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_ds_access_rights, 0xc091); }, expect_untouched(kData)},
      {"SGDT through an unusable segment: #GP(0)", Mode::prot32_unpaged, kGdtrIdtr, {0x26, 0x0f, 0x01, 0x00},
       mem(0, RAX, 1, 0), 0, {{RAX, kData}}, gp(),
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_es_access_rights, 0x10000); }},
  });
}

TEST_CASE("dt_guard: real mode (unrestricted guest): LGDT/LIDT/SGDT with 16-bit addressing") {
  Info si = mem(2, RSI, 0);
  si.osize = 1;
  Info bxsi = mem(3, RBX, 0);
  bxsi.index = RSI;
  run_rows({
      {"o32 LGDT [si] (OVMF's AP start-up): 32-bit base, DS base added", Mode::real, kGdtrIdtr,
       {0x66, 0x0f, 0x01, 0x14}, si, 0, {{RSI, 0xffff0010}}, kAdvance,
       [](DtFixture& f) {
         f.vmcs.set(VmcsField::guest_ds_base, 0x2000);
         poke_pseudo(f, 0x2010, 0x47, 0x7ff5e000, 4);
       },
       expect_gdtr(0x7ff5e000, 0x47)},
      {"LIDT [bx+si+4], 16-bit operand: 24-bit base", Mode::real, kGdtrIdtr, {0x0f, 0x01, 0x58, 0x04}, bxsi, 4,
       {{RBX, 0x2000}, {RSI, 0x1000}}, kAdvance, [](DtFixture& f) { poke_pseudo(f, kData + 4, 0x3ff, 0x12345678, 4); },
       expect_idtr(0x345678, 0x3ff)},
      {"SIDT [si] in real mode", Mode::real, kGdtrIdtr, {0x0f, 0x01, 0x0c}, mem(1, RSI, 0), 0, {{RSI, kData}},
       kAdvance, nullptr, expect_pseudo(kData, kIdtLimit, 0x7000, 4)},
      {"SGDT [si] crossing the 64-KiB limit: #GP(0)", Mode::real, kGdtrIdtr, {0x0f, 0x01, 0x04}, mem(0, RSI, 0), 0,
       {{RSI, 0xfffc}}, gp()},
      {"SLDT in real mode: #UD", Mode::real, kLdtrTr, {0x0f, 0x00, 0xc0}, reg(0, RAX), 0, {},
       fault(vmm::vector::UD)},
      {"STR in virtual-8086 mode: #UD", Mode::prot32_unpaged, kLdtrTr, {0x0f, 0x00, 0xc8}, reg(1, RAX), 0, {},
       fault(vmm::vector::UD), [](DtFixture& f) {
         f.vmcs.set(VmcsField::guest_rflags, arch::rflags::FIXED1 | arch::rflags::VM);
         f.set_cpl(3);
       }},
  });
}

TEST_CASE("dt_guard: SLDT/STR to registers and memory") {
  constexpr uint64_t kJunk = 0x1122334455667788ull;
  Info sib = mem(1, RAX);
  sib.index = RDX;
  sib.scale = 2;
  run_rows({
      {"SLDT eax: zero-extended into RAX", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc0}, reg(0, RAX), 0, {{RAX, kJunk}},
       kAdvance, nullptr, expect_reg(RAX, kLdtr)},
      {"SLDT ax (66): only bits 15:0", Mode::long64, kLdtrTr, {0x66, 0x0f, 0x00, 0xc0}, reg(0, RAX), 0,
       {{RAX, kJunk}}, kAdvance, nullptr, expect_reg(RAX, (kJunk & ~0xffffull) | kLdtr)},
      {"STR rax (REX.W)", Mode::long64, kLdtrTr, {0x48, 0x0f, 0x00, 0xc8}, reg(1, RAX), 0, {{RAX, kJunk}}, kAdvance,
       nullptr, expect_reg(RAX, kTr)},
      {"STR r9d (REX.B)", Mode::long64, kLdtrTr, {0x41, 0x0f, 0x00, 0xc9}, reg(1, R9), 0, {{R9, kJunk}}, kAdvance,
       nullptr, expect_reg(R9, kTr)},
      {"SLDT r25d (REX2)", Mode::long64, kLdtrTr, {0xd5, 0x91, 0x00, 0xc1}, reg(0, 25), 0, {{25, kJunk}}, kAdvance,
       [](DtFixture& f) { f.vcpu.xstate.save_egprs = true; }, expect_reg(25, kLdtr), true},
      {"SLDT esp: RSP is written back to the VMCS", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc4}, reg(0, RSP), 0,
       {{RSP, kJunk}}, kAdvance, nullptr, [](DtFixture& f) { CHECK(f.vmcs.get(VmcsField::guest_rsp) == kLdtr); }},
      {"STR cx in 32-bit mode (66)", Mode::prot32_unpaged, kLdtrTr, {0x66, 0x0f, 0x00, 0xc9}, reg(1, RCX), 0,
       {{RCX, kJunk}}, kAdvance, nullptr, expect_reg(RCX, (kJunk & ~0xffffull) | kTr)},
      {"SLDT [rax]: two bytes", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x00}, mem(0, RAX), 0, {{RAX, kData}}, kAdvance,
       nullptr, expect_mem(kData, kLdtr, 2)},
      {"STR [rax+rdx*4+0x40]", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x4c, 0x90, 0x40}, sib, 0x40,
       {{RAX, kData}, {RDX, 0x10}}, kAdvance, nullptr, expect_mem(kData + 0x80, kTr, 2)},
      {"SLDT at CPL 3 with UMIP: #GP(0)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc0}, reg(0, RAX), 0, {{RAX, kJunk}},
       gp(), set_cpl(3, true), expect_reg(RAX, kJunk)},
      {"STR at CPL 3 without UMIP", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc8}, reg(1, RAX), 0, {{RAX, kJunk}},
       kAdvance, set_cpl(3), expect_reg(RAX, kTr)},
  });
}

namespace {
std::function<void(DtFixture&)> expect_ldtr(uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar) {
  return [=](DtFixture& f) {
    CHECK(f.vmcs.get(VmcsField::guest_ldtr_selector) == sel);
    CHECK(f.vmcs.get(VmcsField::guest_ldtr_base) == base);
    CHECK(f.vmcs.get(VmcsField::guest_ldtr_limit) == limit);
    CHECK(f.vmcs.get(VmcsField::guest_ldtr_access_rights) == ar);
  };
}
std::function<void(DtFixture&)> expect_tr(uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar) {
  return [=](DtFixture& f) {
    CHECK(f.vmcs.get(VmcsField::guest_tr_selector) == sel);
    CHECK(f.vmcs.get(VmcsField::guest_tr_base) == base);
    CHECK(f.vmcs.get(VmcsField::guest_tr_limit) == limit);
    CHECK(f.vmcs.get(VmcsField::guest_tr_access_rights) == ar);
  };
}
std::function<void(DtFixture&)> ldtr_unchanged() {
  return [](DtFixture& f) { CHECK(!f.vmcs.written(VmcsField::guest_ldtr_selector)); };
}
std::function<void(DtFixture&)> tr_unchanged() {
  return [](DtFixture& f) {
    CHECK(!f.vmcs.written(VmcsField::guest_tr_selector));
    CHECK(peek(f, kGdt + kSelTss + 5, 1) == 0x89);
  };
}
}  // namespace

TEST_CASE("dt_guard: LLDT") {
  run_rows({
      {"LLDT ax: 16-byte LDT descriptor in IA-32e mode", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, 0xffff0000 | kSelLdt}}, kAdvance, nullptr, expect_ldtr(kSelLdt, 0xffff800000200000ull, 0xfff, 0x82)},
      {"LLDT [rax]", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x10}, mem(2, RAX), 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { f.phys.poke(kData, "\x40\x00", 2); },
       expect_ldtr(kSelLdt, 0xffff800000200000ull, 0xfff, 0x82)},
      {"LLDT of a null selector (RPL 3): LDTR unusable", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, 3}}, kAdvance, nullptr,
       [](DtFixture& f) {
         CHECK(f.vmcs.get(VmcsField::guest_ldtr_selector) == 3);
         CHECK(f.vmcs.get(VmcsField::guest_ldtr_access_rights) == 0x10000);
       }},
      {"LLDT with TI=1: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, kSelLdt | 4 | 3}}, gp(kSelLdt | 4), nullptr, ldtr_unchanged()},
      {"LLDT of a code segment: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, kSelCode}}, gp(kSelCode), nullptr, ldtr_unchanged()},
      {"LLDT of a TSS: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0, {{RAX, kSelTss}},
       gp(kSelTss), nullptr, ldtr_unchanged()},
      {"LLDT of a not-present LDT: #NP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, kSelLdtAbsent}}, fault(vmm::vector::NP, kSelLdtAbsent), nullptr, ldtr_unchanged()},
      {"LLDT whose 16 bytes end past the GDT limit: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0},
       reg(2, RAX), 0, {{RAX, 0x78}}, gp(0x78), nullptr, ldtr_unchanged()},
      {"LLDT with a non-zero type in the upper half: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0},
       reg(2, RAX), 0, {{RAX, kSelLdt}}, gp(kSelLdt),
       [](DtFixture& f) {
         put_descriptor(f.phys, kGdt + kSelLdt, 0xffff800000200000ull, 0xfff, 2, false, true, true, 0x2);
       },
       ldtr_unchanged()},
      {"LLDT of a non-canonical base: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, kSelLdt}}, gp(kSelLdt),
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelLdt, 0x0000800000000000ull, 0xfff, 2, false, true, true); },
       ldtr_unchanged()},
      {"LLDT at CPL 3: #GP(0)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0, {{RAX, kSelLdt}}, gp(),
       set_cpl(3), ldtr_unchanged()},
      {"LLDT with the GDT on a not-present page: #PF (implicit supervisor read)", Mode::long64, kLdtrTr,
       {0x0f, 0x00, 0xd0}, reg(2, RAX), 0, {{RAX, kSelLdt}}, fault(vmm::vector::PF, 0),
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_gdtr_base, kUnmapped); },
       [](DtFixture& f) { CHECK(f.vcpu.cr2 == kUnmapped + kSelLdt); }},
      {"LLDT in 32-bit protected mode: 8-byte descriptor, page-granular limit", Mode::prot32_unpaged, kLdtrTr,
       {0x0f, 0x00, 0xd0}, reg(2, RAX), 0, {{RAX, kSelLdt}}, kAdvance,
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelLdt, 0x00200000, 0xf, 2, false, true, false, 0, kG); },
       expect_ldtr(kSelLdt, 0x00200000, 0xffff, 0x8082)},
  });
}

TEST_CASE("dt_guard: compatibility mode: 6-byte pseudo-descriptors, 16-byte system descriptors") {
  run_rows({
      {"SGDT [eax] in compatibility mode: limit and the low 4 bytes of base", Mode::compat32, kGdtrIdtr,
       {0x0f, 0x01, 0x00}, mem(0, RAX, 1), 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { f.vmcs.set(VmcsField::guest_gdtr_base, 0xffff800000008000ull); },
       expect_pseudo(kData, kGdtLimit, 0x8000, 4)},
      {"LLDT ax in compatibility mode: 16-byte descriptor (IA-32e, SDM Vol 3A 3.5.2)", Mode::compat32, kLdtrTr,
       {0x0f, 0x00, 0xd0}, reg(2, RAX), 0, {{RAX, kSelLdt}}, kAdvance, nullptr,
       expect_ldtr(kSelLdt, 0xffff800000200000ull, 0xfff, 0x82)},
  });
}

TEST_CASE("dt_guard: LTR") {
  run_rows({
      {"LTR ax: TR loaded, the descriptor marked busy", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelTss}}, kAdvance, nullptr,
       both(expect_tr(kSelTss, 0xffff800000300000ull, 0x67, 0x8b),
            [](DtFixture& f) { CHECK(peek(f, kGdt + kSelTss + 5, 1) == 0x8b); })},
      {"LTR [rax]", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x18}, mem(3, RAX), 0, {{RAX, kData}}, kAdvance,
       [](DtFixture& f) { f.phys.poke(kData, "\x60\x00", 2); }, expect_tr(kSelTss, 0xffff800000300000ull, 0x67, 0x8b)},
      {"LTR of a busy TSS: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelBusyTss}}, gp(kSelBusyTss), nullptr, tr_unchanged()},
      {"LTR of a null selector: #GP(0)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0, {{RAX, 2}}, gp(),
       nullptr, tr_unchanged()},
      {"LTR of an LDT descriptor: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelLdt}}, gp(kSelLdt), nullptr, tr_unchanged()},
      {"LTR of a 16-bit TSS in IA-32e mode: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelTss}}, gp(kSelTss),
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelTss, 0x300000, 0x2b, 1, false, true, true); }},
      {"LTR of a not-present TSS: #NP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelTss}}, fault(vmm::vector::NP, kSelTss),
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelTss, 0x300000, 0x67, 9, false, false, true); }},
      {"LTR at CPL 3: #GP(0)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0, {{RAX, kSelTss}}, gp(),
       set_cpl(3), tr_unchanged()},
      {"LTR of a 16-bit TSS in 32-bit protected mode: busy type 3", Mode::prot32_unpaged, kLdtrTr,
       {0x0f, 0x00, 0xd8}, reg(3, RAX), 0, {{RAX, kSelTss}}, kAdvance,
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelTss, 0x300000, 0x2b, 1, false, true, false); },
       both(expect_tr(kSelTss, 0x300000, 0x2b, 0x83),
            [](DtFixture& f) { CHECK(peek(f, kGdt + kSelTss + 5, 1) == 0x83); })},
  });
}

TEST_CASE("dt_guard: another CPU marks the TSS busy first: LTR is re-executed") {
  DtFixture f(Mode::long64);
  const Bytes code = {0x0f, 0x00, 0xd8};
  f.phys.poke(kRip, code.data(), code.size());
  f.vmcs.set(VmcsField::vm_exit_instruction_length, code.size());
  f.vmcs.set(VmcsField::vm_exit_instruction_info, encode(reg(3, RAX), ExitInfoForm::legacy));
  f.vcpu.regs.gpr[RAX] = kSelTss;
  // Runs before each compare-exchange: the first one on the TSS type byte finds it busy.
  f.phys.interfere = [](emu_test::FakePhys& p, uint64_t gpa) {
    if (gpa == kGdt + kSelTss + 5) p.poke(gpa, "\x8b", 1);
  };
  const vmm::ExitAction a = f.exit(kLdtrTr);
  CHECK(a.kind == vmm::ExitAction::Kind::resume);
  CHECK(f.vmcs.get(VmcsField::guest_rip) == kRip);
  CHECK(!f.vmcs.written(VmcsField::guest_tr_selector));
}

TEST_CASE("dt_guard: the exit information and the instruction at RIP must agree, else the instruction changed since the exit: re-executed") {
  Info wrong_base = mem(0, RBX);
  run_rows({
      {"legacy identity SGDT, RIP holds LGDT", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(0, RAX), 0,
       {{RAX, kData}}, kResume, nullptr, gdtr_unchanged(), false, true},
      {"exit 46, RIP holds SLDT", Mode::long64, kGdtrIdtr, {0x0f, 0x00, 0x00}, mem(0, RAX), 0, {{RAX, kData}}, kResume},
      {"exit 47, RIP holds SGDT", Mode::long64, kLdtrTr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0, {{RAX, kData}}, kResume},
      {"RIP holds a NOP", Mode::long64, kGdtrIdtr, {0x90, 0x90, 0x90}, mem(0, RAX), 0, {{RAX, kData}}, kResume},
      {"info says memory, the instruction has a register", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc0}, mem(0, RAX), 0,
       {{RAX, kData}}, kResume},
      {"info says register, the instruction has memory", Mode::long64, kLdtrTr, {0x0f, 0x00, 0x00}, reg(0, RAX), 0,
       {{RAX, kData}}, kResume, nullptr, expect_untouched(kData)},
      {"info register 3, the instruction names 0", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xc0}, reg(0, RBX), 0,
       {{RAX, kData}}, kResume},
      {"info base rbx, the instruction uses rax", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, wrong_base, 0,
       {{RAX, kData}, {RBX, kData + 0x100}}, kResume, nullptr, expect_untouched(kData)},
      {"info segment ES, the instruction uses DS", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX, 2, 0), 0,
       {{RAX, kData}}, kResume},
      {"qualification is not the displacement of [rax+0x10]", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x40, 0x10},
       mem(0, RAX), 0x20, {{RAX, kData}}, kResume},
      {"exit instruction length differs from the decoded one", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00},
       mem(0, RAX), 0, {{RAX, kData}}, kResume, nullptr, nullptr, false, false, 4},
      {"no guest memory access configured", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00}, mem(0, RAX), 0,
       {{RAX, kData}}, kStop, [](DtFixture& f) { f.policy.guest_ram = nullptr; }},
      {"REX2 with guest XCR0.APX=0 does not decode: #UD, as the CPU would raise", Mode::long64, kGdtrIdtr,
       {0xd5, 0x90, 0x01, 0x18}, mem(3, 16), 0, {{16, kData}}, fault(vmm::vector::UD), nullptr, nullptr, true},
  });
}

TEST_CASE("dt_guard: a mismatch re-executes; 64 in a row on one vCPU is a defect and stops; a match resets the count") {
  DtFixture f(Mode::long64);
  f.vcpu.regs.gpr[RAX] = kData;
  auto exit_with = [&](const Bytes& code) {
    f.vmcs.set(VmcsField::guest_rip, kRip);
    f.phys.poke(kRip, code.data(), code.size());
    f.vmcs.set(VmcsField::vm_exit_instruction_length, 3);
    f.vmcs.set(VmcsField::vm_exit_instruction_info, encode(mem(0, RAX), ExitInfoForm::legacy));
    return f.exit(kGdtrIdtr).kind;
  };
  const Bytes nop = {0x90, 0x90, 0x90}, sgdt = {0x0f, 0x01, 0x00};
  for (int i = 0; i < 63; ++i) REQUIRE(exit_with(nop) == vmm::ExitAction::Kind::resume);
  CHECK(exit_with(sgdt) == vmm::ExitAction::Kind::advance_rip);  // agrees: the count starts again
  for (int i = 0; i < 63; ++i) REQUIRE(exit_with(nop) == vmm::ExitAction::Kind::resume);
  const vmm::ExitAction::Kind last = exit_with(nop);
  CHECK(last == vmm::ExitAction::Kind::stop);
}

TEST_CASE("dt_guard: the instruction at RIP cannot be fetched") {
  run_rows({
      {"its page is no longer present: #PF (as the re-fetch would)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x00},
       mem(0, RAX), 0, {{RAX, kData}}, fault(vmm::vector::PF, 0x10 /* ID */),
       [](DtFixture& f) {
         f.vmcs.set(VmcsField::guest_rip, 0x9000);
         f.phys.poke(0x9000, "\x0f\x01\x00", 3);
       },
       [](DtFixture& f) { CHECK(f.vcpu.cr2 == 0x9000); }},
  });
}

TEST_CASE("dt_guard: counts per CPU and logs the first of each instruction at info") {
  vmm::Log& log = vmm::global_log();
  const uint64_t before = log.total_written();
  const Bytes code = {0x0f, 0x00, 0xc8};  // STR eax
  auto str_exit = [&](DtFixture& f) {
    f.vmcs.set(VmcsField::guest_rip, kRip);  // the previous exit advanced it
    f.phys.poke(kRip, code.data(), code.size());
    f.vmcs.set(VmcsField::vm_exit_instruction_length, code.size());
    f.vmcs.set(VmcsField::vm_exit_instruction_info, encode(reg(1, RAX), ExitInfoForm::legacy));
    REQUIRE(f.exit(kLdtrTr).kind == vmm::ExitAction::Kind::advance_rip);
  };
  DtFixture f(Mode::long64);
  f.vcpu.index = 5;
  for (int i = 0; i < 3; ++i) str_exit(f);
  CHECK(vmm::dt_guard_count(f.vcpu, vmm::DtInsn::str) == 3);
  CHECK(vmm::dt_guard_count(f.vcpu, vmm::DtInsn::sldt) == 0);
  CHECK(vmm::dt_guard_count(f.vcpu, vmm::DtInsn::count) == 0);
  // Another CPU counts (and logs its first) on its own.
  DtFixture g(Mode::long64);
  g.vcpu.index = 900;
  str_exit(g);
  CHECK(vmm::dt_guard_count(g.vcpu, vmm::DtInsn::str) == 1);
  CHECK(vmm::dt_guard_count(f.vcpu, vmm::DtInsn::str) == 3);
  CHECK(std::string(vmm::dt_insn_name(vmm::DtInsn::lgdt)) == "LGDT");
  // What these four exits logged: the ring's last bytes.
  const size_t n = static_cast<size_t>(log.total_written() - before);
  std::string ring(vmm::Log::kRingSize, '\0');
  ring.resize(log.read_ring(0, ring.data(), ring.size()));
  const std::string logged = ring.substr(ring.size() - std::min(ring.size(), n));
  const size_t first = logged.find("dt_guard: cpu5 first STR emulated");
  CHECK(first != std::string::npos);
  CHECK(logged.find("dt_guard: cpu5 first STR", first + 1) == std::string::npos);  // once per CPU and kind
  CHECK(logged.find("dt_guard: cpu900 first STR emulated") != std::string::npos);
}

// Issue P13: bases loaded into GDTR/IDTR/LDTR/TR are canonical for the processor's linear-address
// width (57 bits where the CPU has LA57), whatever the guest's CR4.LA57 (here 0, 4-level paging);
// the operand's own address follows the guest's paging mode. 0xff32fc1d4d800000 (the GS base a
// 5-level Linux used) is canonical with 57 bits, not with 48.
TEST_CASE("dt_guard: 57-bit bases follow the processor's linear-address width, operands the guest's paging") {
  constexpr uint64_t k57 = 0xff32fc1d4d800000ull;
  auto la57_cpu = [](DtFixture& f) { f.policy.linear_57 = true; };
  run_rows({
      {"LGDT of a 57-bit base, CPU with LA57, guest CR4.LA57=0: loaded", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10},
       mem(2, RAX), 0, {{RAX, kData}}, kAdvance,
       [=](DtFixture& f) {
         la57_cpu(f);
         poke_pseudo(f, kData, 0x1234, k57, 8);
       },
       expect_gdtr(k57, 0x1234)},
      {"LIDT of a 57-bit base, CPU with LA57: loaded", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x18}, mem(3, RAX), 0,
       {{RAX, kData}}, kAdvance,
       [=](DtFixture& f) {
         la57_cpu(f);
         poke_pseudo(f, kData, 0xfff, k57, 8);
       },
       expect_idtr(k57, 0xfff)},
      {"LGDT of a 57-bit base, CPU without LA57: #GP(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(2, RAX), 0,
       {{RAX, kData}}, gp(), [=](DtFixture& f) { poke_pseudo(f, kData, 0x1234, k57, 8); }, gdtr_unchanged()},
      {"LGDT of a base beyond 57 bits, CPU with LA57: #GP(0)", Mode::long64, kGdtrIdtr, {0x0f, 0x01, 0x10},
       mem(2, RAX), 0, {{RAX, kData}}, gp(),
       [=](DtFixture& f) {
         la57_cpu(f);
         poke_pseudo(f, kData, 0x1234, 0x0100000000000000ull, 8);
       },
       gdtr_unchanged()},
      {"LGDT from an operand at a 57-bit address under 4-level paging: #GP(0), CPU with LA57 or not", Mode::long64,
       kGdtrIdtr, {0x0f, 0x01, 0x10}, mem(2, RAX), 0, {{RAX, k57}}, gp(), la57_cpu, gdtr_unchanged()},
      {"LLDT of a 57-bit base, CPU with LA57: loaded", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0}, reg(2, RAX), 0,
       {{RAX, kSelLdt}}, kAdvance,
       [=](DtFixture& f) {
         la57_cpu(f);
         put_descriptor(f.phys, kGdt + kSelLdt, k57, 0xfff, 2, false, true, true);
       },
       expect_ldtr(kSelLdt, k57, 0xfff, 0x82)},
      {"LLDT of a 57-bit base, CPU without LA57: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd0},
       reg(2, RAX), 0, {{RAX, kSelLdt}}, gp(kSelLdt),
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelLdt, k57, 0xfff, 2, false, true, true); },
       ldtr_unchanged()},
      {"LTR of a 57-bit base, CPU with LA57: loaded", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8}, reg(3, RAX), 0,
       {{RAX, kSelTss}}, kAdvance,
       [=](DtFixture& f) {
         la57_cpu(f);
         put_descriptor(f.phys, kGdt + kSelTss, k57, 0x67, 9, false, true, true);
       },
       expect_tr(kSelTss, k57, 0x67, 0x8b)},
      {"LTR of a 57-bit base, CPU without LA57: #GP(selector)", Mode::long64, kLdtrTr, {0x0f, 0x00, 0xd8},
       reg(3, RAX), 0, {{RAX, kSelTss}}, gp(kSelTss),
       [](DtFixture& f) { put_descriptor(f.phys, kGdt + kSelTss, k57, 0x67, 9, false, true, true); }, tr_unchanged()},
  });
}
