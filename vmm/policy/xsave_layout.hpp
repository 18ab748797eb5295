// The standard (non-compacted) XSAVE layout of the host, as CPUID.(0Dh,n) reports it: what the
// guest CPUID policy needs to state sizes that match the components it exposes (SDM Vol 1 13.4).
#pragma once
#include <stdint.h>

namespace vmm::policy {

struct XsaveLayout {
  uint32_t size[64];    // CPUID.(0Dh,n).EAX, n >= 2 (0 where the host has no component n)
  uint32_t offset[64];  // CPUID.(0Dh,n).EBX
};

// Legacy region (x87 + SSE, 512 bytes) plus the XSAVE header (64 bytes).
inline constexpr uint32_t kXsaveLegacyAndHeaderSize = 576;

// Size of a standard-format XSAVE area holding the components in `mask`: the end of the
// furthest one, at least the legacy region and header. This is CPUID.(0Dh,0).EBX for mask =
// XCR0 and CPUID.(0Dh,0).ECX for mask = every supported component.
uint32_t xsave_standard_size(uint64_t mask, const XsaveLayout& layout);

}  // namespace vmm::policy
