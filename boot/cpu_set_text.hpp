// CPU sets in log lines: "cpu0-3", "cpu0,2,5-7". The loader says once what is the same on
// several CPUs instead of once per CPU (issue P12: at the default level nothing is printed per
// CPU unless the CPUs differ; every byte on a polled UART costs boot time, bench/results.md).
// Pure logic, host-tested (tests/unit/boot/cpu_set_text_test.cpp).
#pragma once
#include <stddef.h>

namespace boot {

// Writes `prefix`, then i + offset for every i < count with member[i] set, as ascending
// ranges ("0-3", "0,2,5-7"; "none" for an empty set). Always NUL-terminated; when `cap` is too
// short the text ends in ",..." and never in a cut number. Returns the length written.
size_t format_cpu_set(const bool* member, unsigned count, unsigned offset, const char* prefix, char* out, size_t cap);

// Partitions the CPUs i < count with include[i] set into groups of CPUs that same(leader, i)
// puts with their group's first CPU, and calls emit(leader, member) once per group, in the
// order of the groups' first CPUs; member[] marks the group's CPUs. `member` and `taken` are
// scratch of `count` entries each (the caller's: the loader keeps them off its small stack).
// One pass per group: O(count) when all CPUs agree, the usual case.
template <class Same, class Emit>
void for_each_cpu_group(unsigned count, const bool* include, bool* member, bool* taken, Same same, Emit emit) {
  for (unsigned i = 0; i < count; ++i) taken[i] = !include[i];
  for (unsigned leader = 0; leader < count; ++leader) {
    if (taken[leader]) continue;
    for (unsigned i = 0; i < count; ++i) {
      member[i] = !taken[i] && (i == leader || same(leader, i));
      if (member[i]) taken[i] = true;
    }
    emit(leader, static_cast<const bool*>(member));
  }
}

}  // namespace boot
