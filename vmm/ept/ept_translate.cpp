// Walking the identity map for one guest-physical address (ept_builder.hpp; SDM Vol. 3C 29.3.2).
#include "vmm/ept/ept_builder.hpp"
#include "vmm/ept/ept_table.hpp"

namespace vmm::ept {

EptTranslation EptIdentityMap::translate(uint64_t gpa) const {
  EptTranslation t;
  if (!built() || gpa >= walk_reach(levels_)) return t;
  const uint64_t* table = pml4_;
  for (unsigned level = levels_; level >= 1; --level) {
    const EptEntry e = load_entry(table, level_index(gpa, level));
    if (e.raw == 0) return t;
    if (!e.is_leaf(level)) {
      table = table_at(e.table_address());
      continue;
    }
    const uint64_t size = level_span(level);
    t.mapped = true;
    t.present = e.present();
    t.hidden = e.hidden();
    t.hpa = e.page_address(level) | (gpa & (size - 1));
    t.type = e.memory_type();
    t.ignore_pat = e.ignore_pat();
    t.r = e.readable();
    t.w = e.writable();
    t.x = e.executable();
    t.page_size = size;
    t.level = level;
    return t;
  }
  return t;
}

}  // namespace vmm::ept
