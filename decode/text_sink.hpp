// A bounded text writer over a caller's buffer: never writes past `size`, always leaves the
// buffer NUL-terminated (when size > 0), and counts what the full text would need, like
// snprintf. Freestanding: no libc, no floating point.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace decode {

class TextSink {
 public:
  TextSink(char* buf, size_t size) : buf_(buf), size_(size) {
    if (size_) buf_[0] = '\0';
  }

  void put(char c) {
    if (len_ + 1 < size_) {
      buf_[len_] = c;
      buf_[len_ + 1] = '\0';
    }
    ++len_;
  }
  void put(const char* s) {
    while (s && *s) put(*s++);
  }
  void put_unsigned(uint64_t v) {
    char tmp[20];
    unsigned n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) put(tmp[--n]);
  }
  void put_signed(int64_t v) {
    if (v < 0) {
      put('-');
      put_unsigned(0 - static_cast<uint64_t>(v));
    } else {
      put_unsigned(static_cast<uint64_t>(v));
    }
  }
  void put_hex(uint64_t v, unsigned min_digits = 1) {
    static const char kDigits[] = "0123456789abcdef";
    char tmp[16];
    unsigned n = 0;
    do {
      tmp[n++] = kDigits[v & 15];
      v >>= 4;
    } while (v || n < min_digits);
    while (n) put(tmp[--n]);
  }

  size_t length() const { return len_; }  // what the full text needs (may exceed size - 1)
  bool truncated() const { return size_ == 0 || len_ >= size_; }

 private:
  char* buf_;
  size_t size_;
  size_t len_ = 0;
};

}  // namespace decode
