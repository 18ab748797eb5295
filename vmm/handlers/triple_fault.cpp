// Exit reason 2, triple fault (SDM Vol 3C 26.2): the guest would have shut down. There is
// nothing to resume; stop this guest CPU with a dump.
#include "vmm/handlers/handlers.hpp"

namespace vmm {

ExitAction handle_triple_fault(ExitContext&) {
  return ExitAction::stop("triple fault: the guest shut down (an exception while delivering #DF)");
}

}  // namespace vmm
