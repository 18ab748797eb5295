#include "boot/cpu_set_text.hpp"

namespace boot {
namespace {

// Appends into out[0, cap - 1), keeping room for the NUL; false when it does not fit whole.
bool put(char* out, size_t cap, size_t* at, const char* s, size_t n) {
  if (*at + n >= cap) return false;
  for (size_t i = 0; i < n; ++i) out[*at + i] = s[i];
  *at += n;
  return true;
}

size_t decimal(unsigned v, char* buf) {
  char rev[12];
  size_t n = 0;
  do rev[n++] = static_cast<char>('0' + v % 10), v /= 10;
  while (v);
  for (size_t i = 0; i < n; ++i) buf[i] = rev[n - 1 - i];
  return n;
}

}  // namespace

size_t format_cpu_set(const bool* member, unsigned count, unsigned offset, const char* prefix, char* out, size_t cap) {
  if (cap == 0) return 0;
  size_t at = 0;
  size_t plen = 0;
  while (prefix[plen]) ++plen;
  constexpr char kMore[] = ",...";
  constexpr size_t kMoreLen = sizeof kMore - 1;
  // The ",..." must always fit after a whole range: ranges stop kMoreLen short of the end.
  const size_t room = cap > kMoreLen ? cap - kMoreLen : 0;
  if (!put(out, room, &at, prefix, plen)) {
    out[0] = 0;
    return 0;
  }
  bool any = false;
  for (unsigned i = 0; i < count; ++i) {
    if (!member[i]) continue;
    unsigned last = i;
    while (last + 1 < count && member[last + 1]) ++last;
    char text[32];
    size_t n = 0;
    if (any) text[n++] = ',';
    n += decimal(i + offset, text + n);
    if (last > i) text[n++] = '-', n += decimal(last + offset, text + n);
    if (!put(out, room, &at, text, n)) {
      put(out, cap, &at, any ? kMore : kMore + 1, any ? kMoreLen : kMoreLen - 1);
      out[at] = 0;
      return at;
    }
    any = true;
    i = last;
  }
  if (!any) put(out, cap, &at, "none", 4);
  out[at] = 0;
  return at;
}

}  // namespace boot
