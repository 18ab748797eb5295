#include "vmx/vmcs_field.hpp"

namespace vmx {
namespace {
constexpr const char* kNames[kVmcsFieldCount] = {
#define VMCS_FIELD(enc, width, group, name) #name,
#include "vmx/vmcs_fields.def"
};
}  // namespace

const char* vmcs_field_name(VmcsField f) {
  const size_t pos = vmcs_field_position(f);
  return pos < kVmcsFieldCount ? kNames[pos] : "?";
}

}  // namespace vmx
