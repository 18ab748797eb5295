#include <catch.hpp>
#include <cstring>
#include "arch/gpr.hpp"

using arch::GprWidth;
using arch::gpr_name;

TEST_CASE("register table names all 32 GPRs at every width") {
  struct Row { unsigned n; const char *q, *d, *w, *b; };
  const Row rows[] = {
    {0, "rax", "eax", "ax", "al"},   {4, "rsp", "esp", "sp", "spl"},
    {7, "rdi", "edi", "di", "dil"},  {8, "r8", "r8d", "r8w", "r8b"},
    {15, "r15", "r15d", "r15w", "r15b"}, {16, "r16", "r16d", "r16w", "r16b"},
    {23, "r23", "r23d", "r23w", "r23b"}, {31, "r31", "r31d", "r31w", "r31b"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.n);
    CHECK(std::strcmp(gpr_name(r.n, GprWidth::b64), r.q) == 0);
    CHECK(std::strcmp(gpr_name(r.n, GprWidth::b32), r.d) == 0);
    CHECK(std::strcmp(gpr_name(r.n, GprWidth::b16), r.w) == 0);
    CHECK(std::strcmp(gpr_name(r.n, GprWidth::b8), r.b) == 0);
  }
  CHECK(std::strcmp(gpr_name(32, GprWidth::b64), "?") == 0);
  CHECK(static_cast<unsigned>(arch::Gpr::r31) == 31);
}
