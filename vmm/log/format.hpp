// A small printf-style formatter for freestanding code (no libc in the image). Supports
// %s %c %d %i %u %x %X %p %% with flags 0 and -, a field width, a precision for %s
// (.N or .*), and the length
// modifiers l, ll, z. Always NUL-terminates; returns the length it would have written.
#pragma once
#include <stdarg.h>
#include <stddef.h>

namespace vmm {

size_t vformat(char* buf, size_t cap, const char* fmt, va_list ap);
size_t format(char* buf, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace vmm
