#include "vmm/apic/apic_virtualization.hpp"

#include "vmx/controls.hpp"

namespace vmm::apic {
namespace {

struct Feature {
  bool primary;  // a primary processor-based control (else secondary)
  uint32_t bit;
  const char* name;
};
// SDM Vol 3C 25.6.2, Tables 25-6 and 25-7: every control that virtualizes the local APIC.
constexpr Feature kFeatures[] = {
    {true, vmx::proc::use_tpr_shadow, "TPR shadow"},
    {false, vmx::proc2::virtualize_apic_accesses, "virtualize-APIC-accesses"},
    {false, vmx::proc2::virtualize_x2apic_mode, "virtualize-x2APIC-mode"},
    {false, vmx::proc2::apic_register_virtualization, "APIC-register virtualization"},
    {false, vmx::proc2::virtual_interrupt_delivery, "virtual-interrupt delivery"},
};

}  // namespace

ApicVirtChoice choose_apic_virtualization(const vmx::VmxCapabilities& caps, bool wanted, bool writes_trapped,
                                          bool nested) {
  if (!wanted) return {false, "apic_virt=off"};
  if (!writes_trapped) return {false, "no APIC writes are trapped (init_sipi=native)"};
  if (nested)
    return {false, "running nested: the outer hypervisor may not back an APIC-access page at the xAPIC address"};
  struct Needed {
    bool primary;
    uint32_t bit;
    const char* missing;
  };
  static constexpr Needed kNeeded[] = {
      {true, vmx::proc::use_tpr_shadow, "the CPU has no TPR shadow"},
      {true, vmx::proc::cr8_load_exiting, "the CPU has no CR8-load exiting"},
      {true, vmx::proc::cr8_store_exiting, "the CPU has no CR8-store exiting"},
      {false, vmx::proc2::virtualize_apic_accesses, "the CPU cannot virtualize APIC accesses"},
      {false, vmx::proc2::apic_register_virtualization, "the CPU has no APIC-register virtualization"},
  };
  for (const Needed& n : kNeeded)
    if (!(n.primary ? caps.proc_allowed(n.bit) : caps.proc2_allowed(n.bit))) return {false, n.missing};
  return {true, "TPR shadow, virtualize-APIC-accesses and APIC-register virtualization offered"};
}

size_t describe_apic_virtualization(const vmx::VmxCapabilities& caps, char* out, size_t size) {
  if (!size) return 0;
  size_t n = 0;
  auto append = [&](const char* s) {
    for (; *s && n + 1 < size; ++s) out[n++] = *s;
  };
  bool any = false;
  for (const Feature& f : kFeatures) {
    if (!(f.primary ? caps.proc_allowed(f.bit) : caps.proc2_allowed(f.bit))) continue;
    if (any) append(", ");
    append(f.name);
    any = true;
  }
  if (caps.has_posted_interrupts() && any) append(", posted interrupts");
  if (!any) append("none");
  out[n] = '\0';
  return n;
}

}  // namespace vmm::apic
