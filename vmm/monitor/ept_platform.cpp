#include "vmm/monitor/ept_platform.hpp"

namespace vmm::monitor {
namespace {

// INVEPT (SDM Vol 3C 31.3 "INVEPT"; 29.4.3.1): type 1 invalidates the mappings derived from
// one EPTP (guest-physical and combined, every VPID), type 2 those of every EPTP. The 128-bit
// descriptor holds the EPTP and a reserved zero quadword.
void invept(uint64_t type, uint64_t eptp) {
  struct alignas(16) {
    uint64_t eptp, reserved;
  } desc{eptp, 0};
  asm volatile("invept %0, %1" ::"m"(desc), "r"(type) : "memory", "cc");
}

}  // namespace

ept::EptStatus EptPlatform::set_write_protect(uint64_t gpa, uint64_t size, bool protect) {
  // Watched pages: R+X (reads and fetches never exit); otherwise the identity map's R+W+X.
  return ept_.set_permissions(gpa, size, true, !protect, true);
}

bool EptPlatform::ept_allows_write(uint64_t gpa) {
  const ept::EptTranslation t = ept_.translate(gpa);
  return t.mapped && t.present && !t.hidden && t.w;
}

void EptPlatform::flush_this_cpu() { invept(single_context_ ? 1 : 2, ept_.eptp().raw); }

}  // namespace vmm::monitor
