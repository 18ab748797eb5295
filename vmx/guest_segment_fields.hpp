// The VMCS guest-state fields of each segment register, in the Sreg encoding order
// (ES CS SS DS FS GS = 0..5, SDM Vol 2A 3.1.1.3), so code indexed by segment number finds
// its selector, base, limit and access rights in one place.
#pragma once
#include "vmx/vmcs_field.hpp"

namespace vmx {

struct GuestSegmentFields {
  VmcsField selector, base, limit, access_rights;
};

inline constexpr GuestSegmentFields kGuestSegments[6] = {
    {VmcsField::guest_es_selector, VmcsField::guest_es_base, VmcsField::guest_es_limit, VmcsField::guest_es_access_rights},
    {VmcsField::guest_cs_selector, VmcsField::guest_cs_base, VmcsField::guest_cs_limit, VmcsField::guest_cs_access_rights},
    {VmcsField::guest_ss_selector, VmcsField::guest_ss_base, VmcsField::guest_ss_limit, VmcsField::guest_ss_access_rights},
    {VmcsField::guest_ds_selector, VmcsField::guest_ds_base, VmcsField::guest_ds_limit, VmcsField::guest_ds_access_rights},
    {VmcsField::guest_fs_selector, VmcsField::guest_fs_base, VmcsField::guest_fs_limit, VmcsField::guest_fs_access_rights},
    {VmcsField::guest_gs_selector, VmcsField::guest_gs_base, VmcsField::guest_gs_limit, VmcsField::guest_gs_access_rights},
};

// The two system segments, which have no Sreg number.
inline constexpr GuestSegmentFields kGuestLdtr = {VmcsField::guest_ldtr_selector, VmcsField::guest_ldtr_base,
                                                  VmcsField::guest_ldtr_limit, VmcsField::guest_ldtr_access_rights};
inline constexpr GuestSegmentFields kGuestTr = {VmcsField::guest_tr_selector, VmcsField::guest_tr_base,
                                                VmcsField::guest_tr_limit, VmcsField::guest_tr_access_rights};

}  // namespace vmx
