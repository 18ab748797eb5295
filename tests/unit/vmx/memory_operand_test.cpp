// Memory-operand linear addresses from instruction information + displacement + GPRs +
// segment base: scaling, every address size, truncation and wraparound, 64-bit segment rules.
#include "vmx/memory_operand.hpp"

#include <catch.hpp>

#include "vmx/controls.hpp"
#include "vmx/fake_vmcs.hpp"

using namespace vmx;

namespace {

GprFile regs() {
  GprFile g{};
  for (unsigned n = 0; n < 32; ++n) g.gpr[n] = 0x100 * (n + 1);  // 0x100, 0x200, ...
  return g;
}

// A hand-built InstructionInfo for a memory operand (the decoder is tested elsewhere).
InstructionInfo mem(AddressSize a, SegmentReg s, bool base_valid, uint8_t base, bool index_valid,
                    uint8_t index, uint8_t scaling, InsnInfoKind kind = InsnInfoKind::vmx_pointer) {
  InstructionInfo i{};
  i.kind = kind;
  i.form = ExitInfoForm::extended;
  i.defined = insn_field::address_size | insn_field::segment | insn_field::base | insn_field::index |
              (index_valid ? insn_field::scaling : 0);
  i.address_size = a;
  i.segment = s;
  i.base_valid = base_valid;
  i.base_reg = base;
  i.index_valid = index_valid;
  i.index_reg = index;
  i.scaling = scaling;
  return i;
}

}  // namespace

TEST_CASE("memory operand: base + index*scale + displacement, per address size and mode") {
  struct Row {
    const char* what;
    AddressSize a;
    SegmentReg s;
    bool bv;
    uint8_t base;
    uint64_t base_val;
    bool iv;
    uint8_t index;
    uint64_t index_val;
    uint8_t scaling;
    uint64_t disp;
    uint64_t seg_base;
    bool mode64;
    uint64_t offset, linear;
  };
  const Row rows[] = {
      {"64: ds, base+index*8+disp, ds base ignored", AddressSize::a64, SegmentReg::ds, true, 3, 0x1000, true,
       6, 0x20, 3, 0x10, 0xdead0000, true, 0x1110, 0x1110},
      {"64: scale 1", AddressSize::a64, SegmentReg::ds, false, 0, 0, true, 1, 0x30, 0, 0, 0, true, 0x30,
       0x30},
      {"64: scale 2", AddressSize::a64, SegmentReg::ds, false, 0, 0, true, 1, 0x30, 1, 0, 0, true, 0x60,
       0x60},
      {"64: scale 4", AddressSize::a64, SegmentReg::ds, false, 0, 0, true, 1, 0x30, 2, 0, 0, true, 0xc0,
       0xc0},
      {"64: scale 8", AddressSize::a64, SegmentReg::ds, false, 0, 0, true, 1, 0x30, 3, 0, 0, true, 0x180,
       0x180},
      {"64: fs base added", AddressSize::a64, SegmentReg::fs, true, 0, 0x10, false, 0, 0, 0, 8, 0x7fff0000,
       true, 0x18, 0x7fff0018},
      {"64: gs base added, wraps at 2^64", AddressSize::a64, SegmentReg::gs, true, 0, 0x2000, false, 0, 0, 0,
       0, 0xfffffffffffff000ull, true, 0x2000, 0x1000},
      {"64: es/cs/ss bases ignored", AddressSize::a64, SegmentReg::ss, true, 5, 0x8000, false, 0, 0, 0, 0,
       0x1234, true, 0x8000, 0x8000},
      {"64: negative displacement", AddressSize::a64, SegmentReg::ds, true, 3, 0x1000, false, 0, 0, 0,
       0xfffffffffffffff0ull, 0, true, 0xff0, 0xff0},
      {"64: offset wraps at 2^64", AddressSize::a64, SegmentReg::ds, true, 3, 0xfffffffffffffff0ull, false, 0,
       0, 0, 0x20, 0, true, 0x10, 0x10},
      {"64: disp32 only, sign-extended", AddressSize::a64, SegmentReg::ds, false, 0, 0, false, 0, 0, 0,
       0xffffffff80000000ull, 0, true, 0xffffffff80000000ull, 0xffffffff80000000ull},
      {"64 mode, 32-bit address (67h): truncated, then fs base", AddressSize::a32, SegmentReg::fs, true, 0,
       0x12345678fffffff0ull, false, 0, 0, 0, 0x20, 0x100000000ull, true, 0x10, 0x100000010ull},
      {"32: base+disp, segment base, linear wraps at 2^32", AddressSize::a32, SegmentReg::ds, true, 3,
       0xfffffff0, false, 0, 0, 0, 8, 0x100, false, 0xfffffff8, 0xf8},
      {"32: upper register bits ignored", AddressSize::a32, SegmentReg::es, true, 3, 0xffffffff00001000ull,
       true, 6, 0xaaaaaaaa00000010ull, 2, 4, 0x20000, false, 0x1044, 0x21044},
      {"16: bx+si+disp, wraps at 64 KiB", AddressSize::a16, SegmentReg::ds, true, 3, 0xfff0, true, 6, 0x0010,
       0, 0x10, 0xf0000, false, 0x0010, 0xf0010},
      {"16: negative disp8 sign-extended", AddressSize::a16, SegmentReg::ss, true, 5, 0x0100, false, 0, 0, 0,
       0xfffffffffffffffeull, 0x20000, false, 0x00fe, 0x200fe},
      {"16: upper register bits ignored", AddressSize::a16, SegmentReg::ds, true, 3, 0xffff1234, false, 0, 0,
       0, 0, 0x1000, false, 0x1234, 0x2234},
  };
  for (const Row& r : rows) {
    CAPTURE(r.what);
    GprFile g = regs();
    if (r.bv) g.gpr[r.base] = r.base_val;
    if (r.iv) g.gpr[r.index] = r.index_val;
    const InstructionInfo i = mem(r.a, r.s, r.bv, r.base, r.iv, r.index, r.scaling);
    const MemoryOperand m = compute_memory_operand(i, r.disp, g, r.seg_base, r.mode64);
    REQUIRE(m.ok());
    CHECK(m.offset == r.offset);
    CHECK(m.linear == r.linear);
    CHECK(m.segment == r.s);
  }
}

TEST_CASE("memory operand: every GPR as base and as index, R16..R31 included") {
  for (unsigned n = 0; n < 32; ++n) {
    CAPTURE(n);
    GprFile g{};
    g.gpr[n] = 0x40000 + n;
    const MemoryOperand b = compute_memory_operand(
        mem(AddressSize::a64, SegmentReg::ds, true, uint8_t(n), false, 0, 0), 0x8, g, 0, true);
    CHECK(b.linear == 0x40008 + n);
    const MemoryOperand x = compute_memory_operand(
        mem(AddressSize::a64, SegmentReg::ds, false, 0, true, uint8_t(n), 1), 0x8, g, 0, true);
    CHECK(x.linear == 2 * (0x40000 + n) + 8);
  }
}

TEST_CASE("memory operand: RSP comes from the VMCS value when given") {
  GprFile g{};
  g.gpr[4] = 0x1111;  // stale mirror
  const uint64_t rsp = 0x7000;
  const InstructionInfo i = mem(AddressSize::a64, SegmentReg::ss, true, 4, false, 0, 0);
  CHECK(compute_memory_operand(i, 0x10, g, 0, true).linear == 0x1121);
  CHECK(compute_memory_operand(i, 0x10, g, 0, true, &rsp).linear == 0x7010);
}

TEST_CASE("memory operand: refusals") {
  GprFile g{};
  InstructionInfo reg_operand{};
  reg_operand.kind = InsnInfoKind::vmread_vmwrite;
  reg_operand.defined = insn_field::reg1 | insn_field::mem_reg;
  reg_operand.is_register = true;
  CHECK(compute_memory_operand(reg_operand, 0, g, 0, true).status == MemoryOperandStatus::not_memory);
  InstructionInfo rdrand{};
  rdrand.kind = InsnInfoKind::rdrand_rdseed;
  rdrand.defined = insn_field::reg1 | insn_field::operand_size;
  rdrand.is_register = true;
  CHECK(compute_memory_operand(rdrand, 0, g, 0, true).status == MemoryOperandStatus::not_memory);
  CHECK(compute_memory_operand(mem(AddressSize::invalid, SegmentReg::ds, true, 0, false, 0, 0), 0, g, 0, true)
            .status == MemoryOperandStatus::bad_address_size);
  CHECK(
      compute_memory_operand(mem(AddressSize::a64, SegmentReg::invalid, true, 0, false, 0, 0), 0, g, 0, true)
          .status == MemoryOperandStatus::bad_segment);
}

TEST_CASE("memory operand: INS uses ES:rDI, OUTS seg:rSI") {
  GprFile g{};
  g.gpr[6] = 0xffff0010;  // rsi
  g.gpr[7] = 0x12345;     // rdi
  InstructionInfo ins{};
  ins.kind = InsnInfoKind::ins;
  ins.defined = insn_field::address_size;
  ins.address_size = AddressSize::a64;
  ins.segment = SegmentReg::invalid;
  const MemoryOperand mi = compute_memory_operand(ins, 0x999, g, 0x5000, true);
  REQUIRE(mi.ok());
  CHECK(mi.segment == SegmentReg::es);
  CHECK(mi.linear == 0x12345);  // ES base ignored in 64-bit mode, no displacement
  InstructionInfo outs = ins;
  outs.kind = InsnInfoKind::outs;
  outs.defined |= insn_field::segment;
  outs.segment = SegmentReg::fs;
  outs.address_size = AddressSize::a16;
  const MemoryOperand mo = compute_memory_operand(outs, 0, g, 0x5000, false);
  REQUIRE(mo.ok());
  CHECK(mo.offset == 0x0010);
  CHECK(mo.linear == 0x5010);
}

TEST_CASE("memory operand: read from the VMCS (displacement, segment base, RSP, mode)") {
  FakeVmcs v;
  v.set(VmcsField::exit_qualification, 0xfffffffffffffff8ull);  // disp -8
  v.set(VmcsField::guest_gs_base, 0xffff800000000000ull);
  v.set(VmcsField::guest_rsp, 0x9000);
  v.set(VmcsField::vm_entry_controls, entry_ctl::ia32e_mode_guest);
  v.set(VmcsField::guest_cs_access_rights, 0xa09b);  // L=1
  GprFile g{};
  g.gpr[20] = 0x100;
  CHECK(guest_in_64bit_mode(v));
  const MemoryOperand m = read_memory_operand(v, mem(AddressSize::a64, SegmentReg::gs, true, 4, true, 20, 3),
                                              g);  // gs:-8(%rsp,%r20,8)
  REQUIRE(m.ok());
  CHECK(m.offset == 0x9000 + 0x800 - 8);
  CHECK(m.linear == 0xffff800000000000ull + 0x97f8);
  // compatibility mode (L=0): 32-bit wrap, segment base always added
  v.set(VmcsField::guest_cs_access_rights, 0xc09b);
  CHECK_FALSE(guest_in_64bit_mode(v));
  v.set(VmcsField::guest_ds_base, 0x10000);
  v.set(VmcsField::exit_qualification, 0x20);
  const MemoryOperand c =
      read_memory_operand(v, mem(AddressSize::a32, SegmentReg::ds, true, 4, false, 0, 0), g);
  CHECK(c.linear == 0x19020);
  struct Row {
    SegmentReg s;
    VmcsField f;
  };
  for (Row r : {Row{SegmentReg::es, VmcsField::guest_es_base}, Row{SegmentReg::cs, VmcsField::guest_cs_base},
                Row{SegmentReg::ss, VmcsField::guest_ss_base}, Row{SegmentReg::ds, VmcsField::guest_ds_base},
                Row{SegmentReg::fs, VmcsField::guest_fs_base}, Row{SegmentReg::gs, VmcsField::guest_gs_base}})
    CHECK(segment_base_field(r.s) == r.f);
}
