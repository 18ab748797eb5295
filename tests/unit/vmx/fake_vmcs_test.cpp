// FakeVmcs behaves like VMREAD/VMWRITE: width truncation, read-only exit information,
// unsupported fields, typed accessors.
#include "vmx/fake_vmcs.hpp"

#include <catch.hpp>

using namespace vmx;

TEST_CASE("FakeVmcs: write truncates to the field width, read zero-extends") {
  FakeVmcs v;
  struct Row {
    VmcsField f;
    uint64_t written, read;
  };
  const Row rows[] = {
      {VmcsField::guest_cs_selector, 0x1234567890abcdefull, 0xcdef},
      {VmcsField::pin_based_controls, 0x1234567890abcdefull, 0x90abcdef},
      {VmcsField::ept_pointer, 0x1234567890abcdefull, 0x1234567890abcdefull},
      {VmcsField::guest_rip, 0xfffffffffffffff0ull, 0xfffffffffffffff0ull},
  };
  for (const Row& r : rows) {
    CAPTURE(vmcs_field_name(r.f));
    REQUIRE(v.write(r.f, r.written));
    CHECK(v.written(r.f));
    uint64_t got = 0;
    REQUIRE(v.try_read(r.f, &got));
    CHECK(got == r.read);
    CHECK(v.read(r.f) == r.read);
  }
}

TEST_CASE("FakeVmcs: VM-exit information is read-only unless IA32_VMX_MISC[29]") {
  FakeVmcs v;
  CHECK_FALSE(v.write(VmcsField::exit_qualification, 5));
  CHECK(v.last_error() == 13);
  CHECK_FALSE(v.written(VmcsField::exit_qualification));
  v.set(VmcsField::exit_qualification, 7);  // what the "processor" stored
  CHECK(v.read(VmcsField::exit_qualification) == 7);
  v.set_exit_info_writable(true);
  CHECK(v.write(VmcsField::exit_qualification, 5));
  CHECK(v.last_error() == 0);
  CHECK(v.get(VmcsField::exit_qualification) == 5);
}

TEST_CASE("FakeVmcs: unsupported and unknown fields fail with error 12") {
  FakeVmcs v;
  v.set(VmcsField::extended_instruction_info, 0x42);
  v.mark_unsupported(VmcsField::extended_instruction_info);
  uint64_t x = 99;
  CHECK_FALSE(v.try_read(VmcsField::extended_instruction_info, &x));
  CHECK(x == 99);  // untouched on failure
  CHECK(v.last_error() == 12);
  CHECK(v.read(VmcsField::extended_instruction_info) == 0);
  CHECK(v.try_write(VmcsField::tsc_offset, 1));  // others unaffected
  CHECK_FALSE(v.try_read(static_cast<VmcsField>(0x2407), &x));
  CHECK_FALSE(v.try_write(static_cast<VmcsField>(0x7ffe), 1));
  v.mark_unsupported(VmcsField::extended_instruction_info, false);
  CHECK(v.read(VmcsField::extended_instruction_info) == 0x42);
}

TEST_CASE("FakeVmcs: fail_writes makes VMWRITE fail while VMREAD works") {
  FakeVmcs v;
  v.set(VmcsField::guest_rflags, 0x202);
  v.fail_writes(VmcsField::guest_rflags);
  CHECK_FALSE(v.try_write(VmcsField::guest_rflags, 0x2));
  CHECK(v.last_error() == 12);
  CHECK(v.read(VmcsField::guest_rflags) == 0x202);  // unchanged, still readable
  CHECK_FALSE(v.written(VmcsField::guest_rflags));
  CHECK(v.try_write(VmcsField::guest_rip, 1));  // others unaffected
  v.fail_writes(VmcsField::guest_rflags, false);
  CHECK(v.try_write(VmcsField::guest_rflags, 0x2));
}

TEST_CASE("FakeVmcs: typed accessors and counters") {
  FakeVmcs v;
  REQUIRE(v.write<VmcsField::guest_es_selector>(0x10));
  REQUIRE(v.write<VmcsField::vm_entry_controls>(0x200));
  REQUIRE(v.write<VmcsField::guest_rsp>(0x8000));
  uint16_t sel = v.read<VmcsField::guest_es_selector>();
  uint32_t entry = v.read<VmcsField::vm_entry_controls>();
  uint64_t rsp = v.read<VmcsField::guest_rsp>();
  CHECK(sel == 0x10);
  CHECK(entry == 0x200);
  CHECK(rsp == 0x8000);
  CHECK(v.writes() == 3);
  CHECK(v.reads() == 3);
  VmcsAccess& seam = v;  // usable through the interface
  CHECK(seam.read(VmcsField::guest_rsp) == 0x8000);
}
