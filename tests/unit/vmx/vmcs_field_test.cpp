// The VMCS field table: one row per field, encodings unique, the width and group columns
// agree with the encoding bits (SDM 25.11.2), names unique; spot checks against Appendix B.
#include "vmx/vmcs_field.hpp"

#include <catch.hpp>
#include <cstring>
#include <set>
#include <string>
#include <type_traits>

using namespace vmx;

TEST_CASE("VMCS table: encodings are unique and well-formed") {
  std::set<uint32_t> seen;
  for (VmcsField f : kVmcsFields) {
    const uint32_t e = encoding(f);
    CAPTURE(vmcs_field_name(f), e);
    CHECK(seen.insert(e).second);
    CHECK((e & 1) == 0);           // full access, never the "high" half
    CHECK((e & (1u << 12)) == 0);  // bit 12 reserved
    CHECK((e >> 15) == 0);         // bits 31:15 reserved
  }
  CHECK(seen.size() == kVmcsFieldCount);
}

TEST_CASE("VMCS table: width and group columns match encoding bits 14:13 and 11:10") {
  for (VmcsField f : kVmcsFields) {
    const uint32_t e = encoding(f);
    CAPTURE(vmcs_field_name(f), e);
    CHECK(static_cast<unsigned>(vmcs_field_width(f)) == ((e >> 13) & 3));
    CHECK(static_cast<unsigned>(vmcs_field_group(f)) == ((e >> 10) & 3));
    CHECK(vmcs_field_index(f) == ((e >> 1) & 0x1ff));
    CHECK(vmcs_field_read_only(f) == (((e >> 10) & 3) == 1));
  }
}

TEST_CASE("VMCS table: names are unique, non-empty and round-trip through the position") {
  std::set<std::string> names;
  for (size_t i = 0; i < kVmcsFieldCount; ++i) {
    const VmcsField f = kVmcsFields[i];
    const std::string n = vmcs_field_name(f);
    CAPTURE(i, n);
    CHECK(!n.empty());
    CHECK(n != "?");
    CHECK(names.insert(n).second);
    CHECK(vmcs_field_position(f) == i);
    CHECK(vmcs_field_known(encoding(f)));
  }
}

TEST_CASE("VMCS table: Appendix B spot checks") {
  struct Row {
    VmcsField f;
    uint32_t enc;
    VmcsWidth w;
    VmcsGroup g;
    const char* name;
  };
  const Row rows[] = {
      {VmcsField::virtual_processor_id, 0x0000, VmcsWidth::w16, VmcsGroup::control, "virtual_processor_id"},
      {VmcsField::guest_cs_selector, 0x0802, VmcsWidth::w16, VmcsGroup::guest, "guest_cs_selector"},
      {VmcsField::guest_pml_index, 0x0812, VmcsWidth::w16, VmcsGroup::guest, "guest_pml_index"},
      {VmcsField::host_tr_selector, 0x0c0c, VmcsWidth::w16, VmcsGroup::host, "host_tr_selector"},
      {VmcsField::msr_bitmap, 0x2004, VmcsWidth::w64, VmcsGroup::control, "msr_bitmap"},
      {VmcsField::pml_address, 0x200e, VmcsWidth::w64, VmcsGroup::control, "pml_address"},
      {VmcsField::ept_pointer, 0x201a, VmcsWidth::w64, VmcsGroup::control, "ept_pointer"},
      {VmcsField::tertiary_processor_based_controls, 0x2034, VmcsWidth::w64, VmcsGroup::control,
       "tertiary_processor_based_controls"},
      {VmcsField::guest_physical_address, 0x2400, VmcsWidth::w64, VmcsGroup::exit_info,
       "guest_physical_address"},
      {VmcsField::extended_instruction_info, 0x2406, VmcsWidth::w64, VmcsGroup::exit_info,
       "extended_instruction_info"},
      {VmcsField::vmcs_link_pointer, 0x2800, VmcsWidth::w64, VmcsGroup::guest, "vmcs_link_pointer"},
      {VmcsField::guest_ia32_efer, 0x2806, VmcsWidth::w64, VmcsGroup::guest, "guest_ia32_efer"},
      {VmcsField::host_ia32_efer, 0x2c02, VmcsWidth::w64, VmcsGroup::host, "host_ia32_efer"},
      {VmcsField::pin_based_controls, 0x4000, VmcsWidth::w32, VmcsGroup::control, "pin_based_controls"},
      {VmcsField::primary_processor_based_controls, 0x4002, VmcsWidth::w32, VmcsGroup::control,
       "primary_processor_based_controls"},
      {VmcsField::secondary_processor_based_controls, 0x401e, VmcsWidth::w32, VmcsGroup::control,
       "secondary_processor_based_controls"},
      {VmcsField::exit_reason, 0x4402, VmcsWidth::w32, VmcsGroup::exit_info, "exit_reason"},
      {VmcsField::vm_exit_instruction_info, 0x440e, VmcsWidth::w32, VmcsGroup::exit_info,
       "vm_exit_instruction_info"},
      {VmcsField::guest_activity_state, 0x4826, VmcsWidth::w32, VmcsGroup::guest, "guest_activity_state"},
      {VmcsField::vmx_preemption_timer_value, 0x482e, VmcsWidth::w32, VmcsGroup::guest,
       "vmx_preemption_timer_value"},
      {VmcsField::cr0_guest_host_mask, 0x6000, VmcsWidth::natural, VmcsGroup::control, "cr0_guest_host_mask"},
      {VmcsField::cr4_read_shadow, 0x6006, VmcsWidth::natural, VmcsGroup::control, "cr4_read_shadow"},
      {VmcsField::exit_qualification, 0x6400, VmcsWidth::natural, VmcsGroup::exit_info, "exit_qualification"},
      {VmcsField::guest_linear_address, 0x640a, VmcsWidth::natural, VmcsGroup::exit_info,
       "guest_linear_address"},
      {VmcsField::guest_rsp, 0x681c, VmcsWidth::natural, VmcsGroup::guest, "guest_rsp"},
      {VmcsField::guest_rip, 0x681e, VmcsWidth::natural, VmcsGroup::guest, "guest_rip"},
      {VmcsField::guest_rflags, 0x6820, VmcsWidth::natural, VmcsGroup::guest, "guest_rflags"},
      {VmcsField::host_rsp, 0x6c14, VmcsWidth::natural, VmcsGroup::host, "host_rsp"},
      {VmcsField::host_rip, 0x6c16, VmcsWidth::natural, VmcsGroup::host, "host_rip"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    CHECK(encoding(r.f) == r.enc);
    CHECK(vmcs_field_width(r.f) == r.w);
    CHECK(vmcs_field_group(r.f) == r.g);
    CHECK(std::strcmp(vmcs_field_name(r.f), r.name) == 0);
  }
}

TEST_CASE("VMCS table: every group and width class is populated; unknown encodings") {
  int per[4][4] = {};
  for (VmcsField f : kVmcsFields)
    ++per[static_cast<int>(vmcs_field_width(f))][static_cast<int>(vmcs_field_group(f))];
  CHECK(per[int(VmcsWidth::w16)][int(VmcsGroup::control)] > 0);
  CHECK(per[int(VmcsWidth::w16)][int(VmcsGroup::guest)] > 0);
  CHECK(per[int(VmcsWidth::w16)][int(VmcsGroup::host)] > 0);
  for (int w = 1; w < 4; ++w)
    for (int g = 0; g < 4; ++g) {
      CAPTURE(w, g);
      CHECK(per[w][g] > 0);
    }
  CHECK(std::strcmp(vmcs_field_name(static_cast<VmcsField>(0x2407)), "?") == 0);  // high half
  CHECK_FALSE(vmcs_field_known(0x2407));
  CHECK_FALSE(vmcs_field_known(0x7ffe));
  CHECK(vmcs_field_position(static_cast<VmcsField>(0x1234)) == kVmcsFieldCount);
}

TEST_CASE("VMCS table: value types follow the width") {
  STATIC_REQUIRE(std::is_same_v<vmcs_value_t<VmcsField::guest_cs_selector>, uint16_t>);
  STATIC_REQUIRE(std::is_same_v<vmcs_value_t<VmcsField::exit_reason>, uint32_t>);
  STATIC_REQUIRE(std::is_same_v<vmcs_value_t<VmcsField::extended_instruction_info>, uint64_t>);
  STATIC_REQUIRE(std::is_same_v<vmcs_value_t<VmcsField::guest_rip>, uint64_t>);
  CHECK(vmcs_width_mask(VmcsWidth::w16) == 0xffff);
  CHECK(vmcs_width_mask(VmcsWidth::w32) == 0xffffffff);
  CHECK(vmcs_width_mask(VmcsWidth::w64) == ~0ull);
  CHECK(vmcs_width_mask(VmcsWidth::natural) == ~0ull);
}
