// VMCS field encodings, generated from vmcs_fields.def (SDM Vol. 3C 25.11.2 "VMREAD, VMWRITE,
// and Encodings of VMCS Fields"; Vol. 3D Appendix B).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <type_traits>

namespace vmx {

// Bits 14:13 of an encoding (SDM Table 25-21).
enum class VmcsWidth : uint8_t { w16 = 0, w64 = 1, w32 = 2, natural = 3 };
// Bits 11:10 of an encoding: control, VM-exit information (read-only), guest state, host state.
enum class VmcsGroup : uint8_t { control = 0, exit_info = 1, guest = 2, host = 3 };

enum class VmcsField : uint32_t {
#define VMCS_FIELD(enc, width, group, name) name = enc,
#include "vmx/vmcs_fields.def"
};

namespace detail {
// Position of each field in the table, for O(1) name lookup and for the fake's storage.
enum class VmcsFieldIndex : uint16_t {
#define VMCS_FIELD(enc, width, group, name) name,
#include "vmx/vmcs_fields.def"
  count
};
}  // namespace detail

inline constexpr size_t kVmcsFieldCount = static_cast<size_t>(detail::VmcsFieldIndex::count);

// Every field in table order (the dump's order).
inline constexpr VmcsField kVmcsFields[kVmcsFieldCount] = {
#define VMCS_FIELD(enc, width, group, name) VmcsField::name,
#include "vmx/vmcs_fields.def"
};

// ---- encoding bits (SDM Table 25-21) --------------------------------------------------
constexpr uint32_t encoding(VmcsField f) { return static_cast<uint32_t>(f); }
constexpr VmcsWidth encoding_width(uint32_t enc) { return static_cast<VmcsWidth>((enc >> 13) & 3); }
constexpr VmcsGroup encoding_group(uint32_t enc) { return static_cast<VmcsGroup>((enc >> 10) & 3); }
constexpr unsigned encoding_index(uint32_t enc) { return (enc >> 1) & 0x1ff; }
constexpr bool encoding_is_high_access(uint32_t enc) { return enc & 1; }

constexpr VmcsWidth vmcs_field_width(VmcsField f) { return encoding_width(encoding(f)); }
constexpr VmcsGroup vmcs_field_group(VmcsField f) { return encoding_group(encoding(f)); }
constexpr unsigned vmcs_field_index(VmcsField f) { return encoding_index(encoding(f)); }
constexpr bool vmcs_field_read_only(VmcsField f) { return vmcs_field_group(f) == VmcsGroup::exit_info; }

// Whether a field may hold an address of the hypervisor's own memory, which must never reach
// the log ring a guest can read (issue P8; vmm/launch/vmcs_report.cpp sends such lines to the
// UART at debug level only): every host-state field (stacks, tables, the exit stub), and every
// 64-bit control field except the few known to hold values or guest-physical addresses. A
// field added to the table later is treated as an address until listed here.
constexpr bool vmcs_field_may_hold_hypervisor_address(VmcsField f) {
  if (vmcs_field_group(f) == VmcsGroup::host) return true;
  if (vmcs_field_group(f) != VmcsGroup::control || vmcs_field_width(f) != VmcsWidth::w64) return false;
  switch (f) {
    case VmcsField::tsc_offset:
    case VmcsField::tsc_multiplier:
    case VmcsField::vm_function_controls:
    case VmcsField::tertiary_processor_based_controls:
    case VmcsField::secondary_vm_exit_controls:
    case VmcsField::apic_access_address:  // the guest's xAPIC page (guest-physical)
    case VmcsField::eoi_exit_bitmap_0:
    case VmcsField::eoi_exit_bitmap_1:
    case VmcsField::eoi_exit_bitmap_2:
    case VmcsField::eoi_exit_bitmap_3:
    case VmcsField::xss_exiting_bitmap:
    case VmcsField::encls_exiting_bitmap:
    case VmcsField::enclv_exiting_bitmap:
    case VmcsField::pconfig_exiting_bitmap:
      return false;
    default:
      return true;
  }
}

// Value bits a field holds when the logical processor is in 64-bit mode (natural = 64).
constexpr uint64_t vmcs_width_mask(VmcsWidth w) {
  return w == VmcsWidth::w16 ? 0xffffull : w == VmcsWidth::w32 ? 0xffffffffull : ~0ull;
}
constexpr unsigned vmcs_width_bits(VmcsWidth w) {
  return w == VmcsWidth::w16 ? 16 : w == VmcsWidth::w32 ? 32 : 64;
}

// The table's width and group columns must agree with the encoding bits; checked per row.
#define VMCS_FIELD(enc, width, group, name)                                                     \
  static_assert(encoding_width(enc) == VmcsWidth::width, #name ": width column != bits 14:13"); \
  static_assert(encoding_group(enc) == VmcsGroup::group, #name ": group column != bits 11:10"); \
  static_assert((enc & 0xffff9001u) == 0, #name ": reserved or high-access bit set");
#include "vmx/vmcs_fields.def"

// Position of `f` in kVmcsFields, or kVmcsFieldCount for a value not in the table.
constexpr size_t vmcs_field_position(VmcsField f) {
  switch (f) {
#define VMCS_FIELD(enc, width, group, name) \
  case VmcsField::name:                     \
    return static_cast<size_t>(detail::VmcsFieldIndex::name);
#include "vmx/vmcs_fields.def"
  }
  return kVmcsFieldCount;
}
constexpr bool vmcs_field_known(uint32_t enc) {
  return vmcs_field_position(static_cast<VmcsField>(enc)) != kVmcsFieldCount;
}

// "guest_rip"; "?" for an encoding that is not in the table.
const char* vmcs_field_name(VmcsField f);

namespace detail {
constexpr bool encodings_unique() {
  for (size_t i = 0; i < kVmcsFieldCount; ++i)
    for (size_t j = i + 1; j < kVmcsFieldCount; ++j)
      if (kVmcsFields[i] == kVmcsFields[j]) return false;
  return true;
}
}  // namespace detail
static_assert(detail::encodings_unique(), "vmcs_fields.def lists an encoding twice");

// C++ type that holds a field's value: uint16_t, uint32_t or uint64_t (natural = 64-bit).
template <VmcsField F>
using vmcs_value_t =
    std::conditional_t<vmcs_field_width(F) == VmcsWidth::w16, uint16_t,
                       std::conditional_t<vmcs_field_width(F) == VmcsWidth::w32, uint32_t, uint64_t>>;

}  // namespace vmx
