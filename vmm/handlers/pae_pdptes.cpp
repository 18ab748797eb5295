#include "vmm/handlers/pae_pdptes.hpp"

#include "vmm/guest_memory/guest_phys_view.hpp"

namespace vmm {

using vmx::VmcsField;

uint64_t pdpte_reserved_mask(uint8_t max_phys_bits) {
  const unsigned m = max_phys_bits ? max_phys_bits : 52;
  return 0x6ull | 0x1e0ull | (m >= 64 ? 0 : ~0ull << m);
}

PdpteLoad load_pae_pdptes(ExitContext& ctx) {
  if (!ctx.policy.guest_ram) return PdpteLoad::no_memory;
  // PAE paging: CR3 bits 31:5 locate the 32-byte PDPT (Vol 3A 4.4.1): never across a page.
  const uint64_t table = ctx.vmcs.read(VmcsField::guest_cr3) & 0xffffffe0ull;
  uint64_t e[4];
  if (ctx.policy.guest_ram->read(table, e, sizeof e) != guest_memory::PhysStatus::ok)
    for (uint64_t& x : e) x = ~0ull;
  const uint64_t reserved = pdpte_reserved_mask(ctx.policy.max_phys_bits);
  for (uint64_t x : e)
    if ((x & 1) && (x & reserved)) return PdpteLoad::gp;
  const VmcsField fields[] = {VmcsField::guest_pdpte0, VmcsField::guest_pdpte1, VmcsField::guest_pdpte2,
                              VmcsField::guest_pdpte3};
  bool ok = true;
  for (unsigned i = 0; i < 4; ++i) ok &= ctx.vmcs.write(fields[i], e[i]);
  return ok ? PdpteLoad::loaded : PdpteLoad::vmwrite_failed;
}

}  // namespace vmm
