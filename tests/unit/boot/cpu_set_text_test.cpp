// boot/cpu_set_text: CPU sets as ranges, and the grouping of CPUs a report says the same of.
#include <catch.hpp>

#include <string>
#include <vector>

#include "boot/cpu_set_text.hpp"

namespace {

std::string text(std::vector<bool> set, unsigned offset = 0, size_t cap = 64, const char* prefix = "cpu") {
  bool member[64] = {};
  for (size_t i = 0; i < set.size(); ++i) member[i] = set[i];
  char out[128];
  size_t n = boot::format_cpu_set(member, static_cast<unsigned>(set.size()), offset, prefix, out, cap);
  REQUIRE(n == std::string(out).size());
  REQUIRE(n < cap);
  return out;
}

}  // namespace

TEST_CASE("format_cpu_set: one row per shape of set", "[boot][cpu_set_text]") {
  struct Row {
    std::vector<bool> set;
    unsigned offset;
    const char* expected;
  } const rows[] = {
      {{1}, 0, "cpu0"},
      {{1, 1, 1, 1}, 0, "cpu0-3"},
      {{1, 0, 1, 1}, 0, "cpu0,2-3"},
      {{0, 1, 0, 1}, 0, "cpu1,3"},
      {{1, 0, 1, 0, 1, 1, 1}, 0, "cpu0,2,4-6"},
      {{1, 1, 1, 1}, 1, "cpu1-4"},  // VPIDs: index + 1
      {{0, 0}, 0, "cpunone"},
  };
  for (const Row& r : rows) {
    INFO(r.expected);
    CHECK(text(r.set, r.offset) == r.expected);
  }
  CHECK(text(std::vector<bool>(12, true), 0, 64, "") == "0-11");
}

TEST_CASE("format_cpu_set: a short buffer ends in ',...' after a whole range", "[boot][cpu_set_text]") {
  // cpu0,2,4,6,8,10: 15 characters; with cap 12 only whole ranges that leave room for ",..."
  std::vector<bool> alternate;
  for (int i = 0; i < 12; ++i) alternate.push_back(i % 2 == 0);
  CHECK(text(alternate, 0, 64) == "cpu0,2,4,6,8,10");
  CHECK(text(alternate, 0, 12) == "cpu0,2,...");
  CHECK(text(alternate, 0, 11) == "cpu0,2,...");
  CHECK(text(alternate, 0, 10) == "cpu0,...");
  CHECK(text({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0, 9) == "cpu...");
}

TEST_CASE("for_each_cpu_group: CPUs that agree share one group, in first-CPU order", "[boot][cpu_set_text]") {
  // kind[i]: what a report says of CPU i; -1: not part of the report.
  const int kind[] = {7, 7, 3, 7, -1, 3, 9};
  constexpr unsigned n = sizeof kind / sizeof kind[0];
  bool include[n], member[n], taken[n];
  for (unsigned i = 0; i < n; ++i) include[i] = kind[i] >= 0;
  std::vector<std::string> groups;
  boot::for_each_cpu_group(
      n, include, member, taken, [&](unsigned a, unsigned b) { return kind[a] == kind[b]; },
      [&](unsigned leader, const bool* m) {
        char out[64];
        boot::format_cpu_set(m, n, 0, "cpu", out, sizeof out);
        groups.push_back(std::to_string(kind[leader]) + ":" + out);
      });
  CHECK(groups == std::vector<std::string>{"7:cpu0-1,3", "3:cpu2,5", "9:cpu6"});
}

TEST_CASE("for_each_cpu_group: all CPUs the same is one group", "[boot][cpu_set_text]") {
  bool include[4] = {true, true, true, true}, member[4], taken[4];
  int calls = 0;
  boot::for_each_cpu_group(
      4, include, member, taken, [](unsigned, unsigned) { return true; },
      [&](unsigned leader, const bool* m) {
        ++calls;
        CHECK(leader == 0);
        CHECK((m[0] && m[1] && m[2] && m[3]));
      });
  CHECK(calls == 1);
}
