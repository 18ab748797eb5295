// Little-endian integers in byte buffers, x86's memory order: guest memory and device
// registers seen through the emulator, instruction immediates, firmware structures, the
// hypercall ABI's byte payloads. One definition for every place that assembles or splits
// such a value byte by byte. Freestanding, constexpr.
#pragma once
#include <stdint.h>

namespace arch {

// The `bytes` (0..8) bytes at `p` as an integer, the first byte least significant.
constexpr uint64_t load_le(const uint8_t* p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// The value bits of a `bytes`-byte (0..8) integer: 0xff for 1, ~0 for 8.
constexpr uint64_t low_bytes_mask(unsigned bytes) { return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1; }

// The low `bytes` (0..8) bytes of `v` to `p`, least significant first.
constexpr void store_le(uint8_t* p, unsigned bytes, uint64_t v) {
  for (unsigned i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace arch
