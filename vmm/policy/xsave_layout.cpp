#include "vmm/policy/xsave_layout.hpp"

namespace vmm::policy {

uint32_t xsave_standard_size(uint64_t mask, const XsaveLayout& layout) {
  uint32_t size = kXsaveLegacyAndHeaderSize;
  for (unsigned n = 2; n < 64; ++n) {
    if (!((mask >> n) & 1)) continue;
    const uint32_t end = layout.offset[n] + layout.size[n];
    if (end > size) size = end;
  }
  return size;
}

}  // namespace vmm::policy
