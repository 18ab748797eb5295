// Who may take the EPT's table pages once the map is live, and how many (issue P8: "pool use
// bounded ... exhaustion answered, never a stop"). After launch, splits and new tables come
// from one hidden pool (boot/virtualize.cpp: kEptPoolPages, plus kEptOnDemandPoolPages where
// the EPT maps above RAM on demand), and three users draw from it, each driven by the guest:
//   monitor    the EPT write monitor's write protection (a watched range splits large pages);
//   mtrr       re-typing from the guest's virtual MTRRs (a large page no longer one type);
//   on_demand  the tables above a 1 GiB block mapped on the first access above RAM;
//   apic       splitting the local-APIC page down to 4 KiB for an event delivery's sink
//              (EptIdentityMap::redirect_leaf; once: the split stays), under APIC virtualization.
// Without shares a guest that exhausted one (MTRR layouts that split page after page, accesses
// spread over many 512 GiB regions) would leave the others nothing: the monitor could no
// longer protect a range, on-demand blocks would answer as no device. So each user has a
// reserved share, a cap it never exceeds; the caps add up to the pool, so whatever one user
// does, every other still has its whole share. What each does when its share is spent is
// its usual answer to an empty pool (the monitor refuses the range, a re-type maps the large
// page UC, an access above RAM is answered as by no device).
// `boot` is everything before the map goes live (build, hide, the APIC page's protection):
// those pages come from boot services, unbounded. Host-testable.
#pragma once
#include <stdint.h>

namespace vmm::ept {

enum class PoolUser : uint8_t { boot, monitor, mtrr, on_demand, apic, count };

// Pages per user; monitor + mtrr + apic = the base pool (64), on_demand = the extra pool for
// the part mapped on demand (64): boot/virtualize.cpp sizes the pool with the same figures
// (kEptPoolPages, kEptOnDemandPoolPages) from these constants.
inline constexpr uint64_t kPoolShare[static_cast<unsigned>(PoolUser::count)] = {~0ull, 30, 32, 64, 2};
inline constexpr uint64_t kBasePoolPages = 64, kOnDemandPoolPages = 64;
static_assert(kPoolShare[1] + kPoolShare[2] + kPoolShare[4] == kBasePoolPages && kPoolShare[3] == kOnDemandPoolPages,
              "the shares add up to the pool: no user can take another's");

class PoolShares {
 public:
  // Whether `u` may take one more page, and the count when it did.
  bool may_take(PoolUser u) const { return taken_[index(u)] < kPoolShare[index(u)]; }
  void took(PoolUser u) { ++taken_[index(u)]; }
  uint64_t taken(PoolUser u) const { return taken_[index(u)]; }

 private:
  static constexpr unsigned index(PoolUser u) { return static_cast<unsigned>(u); }
  uint64_t taken_[static_cast<unsigned>(PoolUser::count)] = {};
};

}  // namespace vmm::ept
