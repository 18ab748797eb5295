// The few libc symbols a freestanding image needs: the compiler emits calls to these for
// struct copies and zeroing even with -fno-builtin, and Zydis uses memcpy/memset.
// General registers only (-mgeneral-regs-only forbids SSE). memcpy and memset are the string
// instructions, REP MOVSQ/STOSQ for the 8-byte words and REP MOVSB/STOSB for the rest: the
// loader copies its image (over 800 KiB) and zeroes every runtime page, which loops made a
// measurable part of the boot (bench/results.md); a string instruction is the CPU's own fast
// copy (fast-string operation), and Bochs counts one instruction per iteration. DF is 0
// wherever these run: the UEFI calling convention in the loader, and VM exits clear RFLAGS
// in VMX root (SDM Vol 3C 28.5.3).
#include <stddef.h>
#include <stdint.h>

extern "C" {

void* memcpy(void* dst, const void* src, size_t n) {
  void* d = dst;
  size_t words = n / 8, bytes = n % 8;
  asm volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(bytes) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  size_t words = n / 8, bytes = n % 8;
  const uint64_t pattern = 0x0101010101010101ull * static_cast<unsigned char>(c);
  asm volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(pattern) : "memory");
  asm volatile("rep stosb" : "+D"(d), "+c"(bytes) : "a"(pattern) : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (; n; --n, ++x, ++y)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

}  // extern "C"

// A pure virtual call can only happen through a bug (a call during construction); stop.
extern "C" void __cxa_pure_virtual() {
  for (;;) asm volatile("cli; hlt");
}
