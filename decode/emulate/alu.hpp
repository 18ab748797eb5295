// Integer results and the six status flags of the emulated arithmetic and logic instructions,
// as pure constexpr functions (SDM Vol 1 3.4.3.1 "Status Flags", Appendix A "EFLAGS
// Cross-Reference", and each instruction's "Flags Affected" section in Vol 2).
#pragma once
#include <stdint.h>

#include "arch/cr_bits.hpp"

namespace decode::emulate::alu {

namespace fl = arch::rflags;
inline constexpr uint64_t kStatusFlags = fl::CF | fl::PF | fl::AF | fl::ZF | fl::SF | fl::OF;

constexpr uint64_t mask(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }
constexpr uint64_t sign_bit(unsigned bits) { return 1ull << (bits - 1); }
constexpr uint64_t sign_extend(uint64_t v, unsigned from_bits) {
  if (from_bits >= 64) return v;
  const uint64_t s = sign_bit(from_bits);
  v &= mask(from_bits);
  return (v ^ s) - s;
}

// PF: set when the least-significant byte of the result has an even number of 1 bits.
constexpr bool parity_even(uint64_t v) {
  uint8_t b = static_cast<uint8_t>(v);
  b ^= static_cast<uint8_t>(b >> 4);
  b ^= static_cast<uint8_t>(b >> 2);
  b ^= static_cast<uint8_t>(b >> 1);
  return (b & 1) == 0;
}

struct Value {
  uint64_t result;  // truncated to the operand size
  uint64_t flags;   // status flags only (a subset of kStatusFlags)
};

// ZF, SF, PF of a result of `bits` bits.
constexpr uint64_t zsp(uint64_t r, unsigned bits) {
  r &= mask(bits);
  uint64_t f = 0;
  if (r == 0) f |= fl::ZF;
  if (r & sign_bit(bits)) f |= fl::SF;
  if (parity_even(r)) f |= fl::PF;
  return f;
}

// ADD / ADC (carry_in) / INC (ignore CF).
constexpr Value add(uint64_t a, uint64_t b, bool carry_in, unsigned bits) {
  a &= mask(bits);
  b &= mask(bits);
  const uint64_t c = carry_in ? 1 : 0;
  const uint64_t r = (a + b + c) & mask(bits);
  uint64_t f = zsp(r, bits);
  // Carry out of the top bit: with the full 64-bit sum the wrap is detected by comparison.
  const bool carry = bits >= 64 ? (c ? r <= a : r < a) : (((a + b + c) >> bits) & 1) != 0;
  if (carry) f |= fl::CF;
  if (((a ^ r) & (b ^ r)) & sign_bit(bits)) f |= fl::OF;  // both inputs differ in sign from r
  if ((a ^ b ^ r) & 0x10) f |= fl::AF;                    // carry out of bit 3
  return {r, f};
}

// SUB / SBB (borrow_in) / CMP / DEC / NEG (a = 0).
constexpr Value sub(uint64_t a, uint64_t b, bool borrow_in, unsigned bits) {
  a &= mask(bits);
  b &= mask(bits);
  const uint64_t c = borrow_in ? 1 : 0;
  const uint64_t r = (a - b - c) & mask(bits);
  uint64_t f = zsp(r, bits);
  if (c ? a <= b : a < b) f |= fl::CF;                    // borrow into the top bit
  if (((a ^ b) & (a ^ r)) & sign_bit(bits)) f |= fl::OF;  // operands differ in sign, r takes b's
  if ((a ^ b ^ r) & 0x10) f |= fl::AF;                    // borrow into bit 3
  return {r, f};
}

// AND / OR / XOR / TEST: CF = OF = 0, SF/ZF/PF from the result; AF is undefined (SDM) and
// cleared, as the measured CPUs do (tests/emulate/native_diff.cpp).
constexpr Value logic(uint64_t r, unsigned bits) { return {r & mask(bits), zsp(r, bits)}; }

// Condition codes tttn (SDM Vol 2 Appendix B.1.4.7 Table B-10): 0 O, 1 NO, 2 B, 3 NB, 4 Z,
// 5 NZ, 6 BE, 7 NBE, 8 S, 9 NS, A P, B NP, C L, D NL, E LE, F NLE.
constexpr bool condition(unsigned cc, uint64_t rflags) {
  const bool cf = rflags & fl::CF, zf = rflags & fl::ZF, sf = rflags & fl::SF, of = rflags & fl::OF,
             pf = rflags & fl::PF;
  bool t = false;
  switch ((cc >> 1) & 7) {
    case 0: t = of; break;
    case 1: t = cf; break;
    case 2: t = zf; break;
    case 3: t = cf || zf; break;
    case 4: t = sf; break;
    case 5: t = pf; break;
    case 6: t = sf != of; break;
    case 7: t = zf || (sf != of); break;
  }
  return (cc & 1) ? !t : t;
}

}  // namespace decode::emulate::alu
