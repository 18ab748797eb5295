// Exit reason 13, INVD (SDM Vol 3C 26.1.2: INVD always exits). INVD would throw away dirty
// cache lines of every agent on the CPU, the hypervisor's included (log ring, VMCS-adjacent
// data), so the host writes them back instead (WBINVD). The guest cannot tell the
// difference: INVD leaves the contents of modified lines undefined in memory (Vol 2A INVD),
// and written-back data is one of the outcomes it allows.
#include "vmm/handlers/handlers.hpp"

namespace vmm {

ExitAction handle_invd(ExitContext& ctx) {
  ctx.host.invd_as_wbinvd();
  return ExitAction::advance();
}

}  // namespace vmm
