// XSAVE state components as XCR0 bits (SDM Vol 1 13.1, Table 13-1; APX: spec.md §3).
// These are arch/ facts kept here until arch/ has an XSAVE table; move them there then.
#pragma once
#include <stdint.h>

namespace vmm::policy::xcr0 {

inline constexpr uint64_t X87 = 1ull << 0;
inline constexpr uint64_t SSE = 1ull << 1;
inline constexpr uint64_t AVX = 1ull << 2;
inline constexpr uint64_t BNDREGS = 1ull << 3;  // MPX
inline constexpr uint64_t BNDCSR = 1ull << 4;   // MPX
inline constexpr uint64_t OPMASK = 1ull << 5;   // AVX-512
inline constexpr uint64_t ZMM_HI256 = 1ull << 6;
inline constexpr uint64_t HI16_ZMM = 1ull << 7;
inline constexpr uint64_t PKRU = 1ull << 9;
inline constexpr uint64_t XTILECFG = 1ull << 17;  // AMX
inline constexpr uint64_t XTILEDATA = 1ull << 18;
inline constexpr unsigned kApxBit = 19;
inline constexpr uint64_t APX = 1ull << kApxBit;  // R16..R31, 128 bytes at standard offset 960

inline constexpr uint64_t MPX = BNDREGS | BNDCSR;
inline constexpr uint64_t AVX512 = OPMASK | ZMM_HI256 | HI16_ZMM;
inline constexpr uint64_t AMX = XTILECFG | XTILEDATA;

// The user (XCR0) components apexvisor knows and may offer a guest. Every other bit is either
// a supervisor component (IA32_XSS: 8, 10..16) or undefined, and XSETBV refuses it.
inline constexpr uint64_t kKnownUserComponents = X87 | SSE | AVX | MPX | AVX512 | PKRU | AMX | APX;

}  // namespace vmm::policy::xcr0
