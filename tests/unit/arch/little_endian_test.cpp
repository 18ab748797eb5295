// arch/little_endian.hpp: byte order, partial widths, and that a store reads back.
#include <catch.hpp>

#include "arch/little_endian.hpp"

TEST_CASE("load_le: the first byte is the least significant; only `bytes` bytes count") {
  const uint8_t b[9] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xee};
  CHECK(arch::load_le(b, 8) == 0x1122334455667788ull);
  CHECK(arch::load_le(b, 4) == 0x55667788ull);
  CHECK(arch::load_le(b, 2) == 0x7788ull);
  CHECK(arch::load_le(b + 1, 1) == 0x77ull);
  CHECK(arch::load_le(b, 0) == 0);
  static constexpr uint8_t kTwo[2] = {0x01, 0x02};
  static_assert(arch::load_le(kTwo, 2) == 0x0201);  // usable in constant expressions
}

TEST_CASE("store_le: writes exactly `bytes` bytes, least significant first") {
  uint8_t b[10];
  for (uint8_t& x : b) x = 0xcc;
  arch::store_le(b + 1, 4, 0x1122334455667788ull);
  CHECK(b[0] == 0xcc);
  CHECK(b[1] == 0x88);
  CHECK(b[2] == 0x77);
  CHECK(b[3] == 0x66);
  CHECK(b[4] == 0x55);
  CHECK(b[5] == 0xcc);
  arch::store_le(b, 8, 0x0123456789abcdefull);
  CHECK(arch::load_le(b, 8) == 0x0123456789abcdefull);
  CHECK(b[8] == 0xcc);
}
