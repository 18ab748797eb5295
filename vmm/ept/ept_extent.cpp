#include "vmm/ept/ept_extent.hpp"

#include "vmm/ept/ept_entry.hpp"
#include "vmm/ept/mtrr.hpp"

namespace vmm::ept {
namespace {

// Entries of `span` bytes needed to cover [0, end).
uint64_t blocks(uint64_t end, uint64_t span) { return end / span + (end % span ? 1 : 0); }

}  // namespace

EptExtent plan_ept_extent(uint8_t max_phys_bits, uint64_t memory_top, const EptFeatures& features) {
  EptExtent x;
  x.phys_bits = max_phys_bits ? max_phys_bits : kDefaultMaxPhysBits;
  const unsigned bits = x.phys_bits > 57 ? 57 : x.phys_bits;  // no walk translates more
  x.levels = bits > 48 && features.walk_5level ? kLevels5 : kLevels4;
  const uint64_t width = walk_reach(x.levels);
  x.capped = x.phys_bits > 48 && x.levels == kLevels4;
  x.reach = bits >= 64 || (1ull << bits) > width ? width : 1ull << bits;
  uint64_t low = memory_top < x.reach ? memory_top : x.reach;
  // The tables [low, reach) adds to those of [0, low), at the levels above its leaves.
  const unsigned leaf_level = features.pages_1g ? 3 : 2;
  for (unsigned level = leaf_level + 1; level <= x.levels; ++level) {
    const uint64_t span = level_span(level);  // one table at level-1 per entry at `level`
    x.high_table_pages += blocks(x.reach, span) - blocks(low, span);
  }
  x.eager_end = x.high_table_pages <= kEagerHighTablePages ? x.reach : low;
  return x;
}

}  // namespace vmm::ept
