#include "vmm/msr_policy.hpp"

namespace vmm {
namespace {

constexpr MsrAction pass = MsrAction::pass, discard = MsrAction::discard;
constexpr const MsrRule (&kRules)[sizeof detail::kMsrRules / sizeof detail::kMsrRules[0]] = detail::kMsrRules;

static_assert(sizeof kRules / sizeof kRules[0] < 256, "a row number fits MsrVerdict::row (hypercall 9: 8 bits)");

// Table checks at compile time: ranges are ordered pairs, and discard is for writes only
// (a read must return something: emulate or gp).
constexpr bool rules_well_formed() {
  for (const MsrRule& r : kRules)
    if (r.first > r.last || r.read == discard || r.why == nullptr) return false;
  return true;
}
static_assert(rules_well_formed(), "vmm/msr_policy.def: a range is reversed, a read is 'discard' or a row has no reason");

// SDM Vol 3C 25.6.9: four 1 KiB bitmaps: read-low (MSRs 0..1FFFh), read-high
// (C0000000h..C0001FFFh), write-low, write-high.
constexpr uint32_t kLowEnd = 0x2000, kHighBase = 0xc0000000, kHighEnd = 0xc0002000;

// Byte/bit of `msr` in the bitmap, or false when outside both ranges.
bool locate(uint32_t msr, bool write, uint32_t* byte, uint8_t* bit) {
  uint32_t base;
  uint32_t index;
  if (msr < kLowEnd) {
    base = 0;
    index = msr;
  } else if (msr >= kHighBase && msr < kHighEnd) {
    base = 0x400;
    index = msr - kHighBase;
  } else {
    return false;
  }
  if (write) base += 0x800;
  *byte = base + index / 8;
  *bit = static_cast<uint8_t>(1u << (index % 8));
  return true;
}

}  // namespace

const MsrRule* msr_rules(unsigned* count) {
  *count = sizeof kRules / sizeof kRules[0];
  return kRules;
}

MsrRuleResult msr_rule(uint32_t msr) {
  for (unsigned i = 0; i < sizeof kRules / sizeof kRules[0]; ++i) {
    const MsrRule& r = kRules[i];
    if (msr >= r.first && msr <= r.last) return {r.read, r.write, r.why, i + 1};
  }
  return {pass, pass, nullptr, 0};
}

void build_msr_bitmap(uint8_t* bitmap) {
  for (uint32_t i = 0; i < 4096; ++i) bitmap[i] = 0;
  for (const MsrRule& r : kRules) {
    for (uint64_t msr = r.first; msr <= r.last; ++msr) {
      uint32_t byte;
      uint8_t bit;
      if (r.read != pass && locate(static_cast<uint32_t>(msr), false, &byte, &bit)) bitmap[byte] |= bit;
      if (r.write != pass && locate(static_cast<uint32_t>(msr), true, &byte, &bit)) bitmap[byte] |= bit;
    }
  }
}

bool msr_bitmap_exits(const uint8_t* bitmap, uint32_t msr, bool write) {
  uint32_t byte;
  uint8_t bit;
  if (!locate(msr, write, &byte, &bit)) return true;
  return bitmap[byte] & bit;
}

}  // namespace vmm
