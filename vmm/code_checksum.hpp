// The checksum of the hypervisor's code that hypercall code_checksum returns (issue P8: a
// byte-level check that no guest action changed the hypervisor's code). FNV-1a, 64 bits: no
// tables, a few instructions per byte, the same function in the hypervisor (over its running
// .text) and in a guest program (over the .text section of apexvisor.efi on its ESP). .text
// carries no relocations (gnu-efi code is position-independent), so the two agree byte for
// byte unless something wrote into the running code.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace vmm {

inline constexpr uint64_t kFnv1a64Basis = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnv1a64Prime = 0x100000001b3ull;

constexpr uint64_t fnv1a64(const uint8_t* bytes, size_t n, uint64_t h = kFnv1a64Basis) {
  for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * kFnv1a64Prime;
  return h;
}

// The code the hypercall covers: the image's .text (boot/virtualize.cpp sets it before the
// first launch; unset, the hypercall covers 0 bytes).
void set_hypervisor_code(const uint8_t* begin, size_t size);

}  // namespace vmm
