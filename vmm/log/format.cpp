#include "vmm/log/format.hpp"

#include <stdint.h>

namespace vmm {
namespace {

struct Out {
  char* buf;
  size_t cap;
  size_t len = 0;
  void put(char c) {
    if (len + 1 < cap) buf[len] = c;
    ++len;
  }
};

void put_padded(Out& o, const char* s, size_t n, unsigned width, bool left, char pad) {
  size_t fill = width > n ? width - n : 0;
  if (!left)
    while (fill--) o.put(pad);
  for (size_t i = 0; i < n; ++i) o.put(s[i]);
  if (left)
    while (fill--) o.put(' ');
}

// Digits of v in `base`, most significant first, into tmp (no NUL); returns the count.
size_t to_digits(uint64_t v, unsigned base, bool upper, char* tmp) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char rev[24];
  size_t n = 0;
  do {
    rev[n++] = digits[v % base];
    v /= base;
  } while (v);
  for (size_t i = 0; i < n; ++i) tmp[i] = rev[n - 1 - i];
  return n;
}

}  // namespace

size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap) {
  Out o{buf, cap};
  for (const char* p = fmt; *p; ++p) {
    if (*p != '%') {
      o.put(*p);
      continue;
    }
    ++p;
    bool left = false;
    char pad = ' ';
    for (;; ++p) {
      if (*p == '-') left = true;
      else if (*p == '0') pad = '0';
      else break;
    }
    unsigned width = 0;
    while (*p >= '0' && *p <= '9') width = width * 10 + static_cast<unsigned>(*p++ - '0');
    // Precision applies to %s only: the most characters taken from the string.
    size_t precision = static_cast<size_t>(-1);
    if (*p == '.') {
      ++p;
      if (*p == '*') {
        int v = va_arg(ap, int);
        precision = v < 0 ? 0 : static_cast<size_t>(v);
        ++p;
      } else {
        precision = 0;
        while (*p >= '0' && *p <= '9') precision = precision * 10 + static_cast<size_t>(*p++ - '0');
      }
    }
    int longs = 0;
    bool size_t_arg = false;
    for (;; ++p) {
      if (*p == 'l') ++longs;
      else if (*p == 'z') size_t_arg = true;
      else break;
    }
    auto fetch_unsigned = [&]() -> uint64_t {
      if (size_t_arg) return va_arg(ap, size_t);
      if (longs >= 2) return va_arg(ap, unsigned long long);
      if (longs == 1) return va_arg(ap, unsigned long);
      return va_arg(ap, unsigned);
    };
    char tmp[24];
    switch (*p) {
      case '\0':
        --p;  // a lone '%' at the end: print nothing more
        break;
      case '%':
        o.put('%');
        break;
      case 'c': {
        char c = static_cast<char>(va_arg(ap, int));
        put_padded(o, &c, 1, width, left, ' ');
        break;
      }
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        size_t n = 0;
        while (n < precision && s[n]) ++n;
        put_padded(o, s, n, width, left, ' ');
        break;
      }
      case 'd':
      case 'i': {
        int64_t v;
        if (size_t_arg) v = static_cast<int64_t>(va_arg(ap, size_t));
        else if (longs >= 2) v = va_arg(ap, long long);
        else if (longs == 1) v = va_arg(ap, long);
        else v = va_arg(ap, int);
        uint64_t mag = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        size_t n = 0;
        if (v < 0) tmp[n++] = '-';
        n += to_digits(mag, 10, false, tmp + n);
        if (v < 0 && pad == '0' && !left) {  // sign goes before the zero padding
          o.put('-');
          put_padded(o, tmp + 1, n - 1, width ? width - 1 : 0, left, pad);
        } else {
          put_padded(o, tmp, n, width, left, pad);
        }
        break;
      }
      case 'u':
        put_padded(o, tmp, to_digits(fetch_unsigned(), 10, false, tmp), width, left, pad);
        break;
      case 'x':
      case 'X':
        put_padded(o, tmp, to_digits(fetch_unsigned(), 16, *p == 'X', tmp), width, left, pad);
        break;
      case 'p': {
        uint64_t v = reinterpret_cast<uintptr_t>(va_arg(ap, void*));
        o.put('0');
        o.put('x');
        put_padded(o, tmp, to_digits(v, 16, false, tmp), width, left, pad);
        break;
      }
      default:  // unknown conversion: show it literally so the mistake is visible
        o.put('%');
        o.put(*p);
        break;
    }
  }
  if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}

size_t format(char* buf, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

}  // namespace vmm
