#include <catch.hpp>
#include <string>

#include "vmm/apic/apic_virtualization.hpp"
#include "vmx/controls.hpp"

using vmm::apic::describe_apic_virtualization;
using vmx::VmxCapabilities;

namespace {
// Control MSRs carry the allowed-1 settings in bits 63:32 (SDM Vol 3D A.3).
constexpr uint64_t allowed1(uint32_t bits) { return uint64_t{bits} << 32; }

std::string describe(const VmxCapabilities& caps, size_t size = 256) {
  std::string buf(size, '#');
  size_t n = describe_apic_virtualization(caps, buf.data(), size);
  REQUIRE(n < size);
  REQUIRE(buf[n] == '\0');
  return buf.substr(0, n);
}
}  // namespace

TEST_CASE("APIC virtualization offer: none without the controls") {
  VmxCapabilities caps;
  CHECK(describe(caps) == "none");
  // Secondary bits set but secondary controls not activatable: still none.
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses | vmx::proc2::apic_register_virtualization);
  CHECK(describe(caps) == "none");
}

TEST_CASE("APIC virtualization offer: every control named in the SDM's order") {
  VmxCapabilities caps;
  caps.procbased_ctls = allowed1(vmx::proc::activate_secondary_controls | vmx::proc::use_tpr_shadow);
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses | vmx::proc2::virtualize_x2apic_mode |
                                  vmx::proc2::apic_register_virtualization |
                                  vmx::proc2::virtual_interrupt_delivery | vmx::proc2::enable_ept);
  caps.pinbased_ctls = allowed1(vmx::pin::posted_interrupts);
  CHECK(describe(caps) ==
        "TPR shadow, virtualize-APIC-accesses, virtualize-x2APIC-mode, APIC-register virtualization, "
        "virtual-interrupt delivery, posted interrupts");
}

TEST_CASE("APIC virtualization offer: a subset, and a short buffer is cut, not overrun") {
  VmxCapabilities caps;
  caps.procbased_ctls = allowed1(vmx::proc::activate_secondary_controls);
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses);
  CHECK(describe(caps) == "virtualize-APIC-accesses");
  CHECK(describe(caps, 9) == "virtuali");
  char one[1] = {'x'};
  CHECK(describe_apic_virtualization(caps, one, 1) == 0);
  CHECK(one[0] == '\0');
  CHECK(describe_apic_virtualization(caps, one, 0) == 0);
}

namespace {
using vmm::apic::choose_apic_virtualization;

// A CPU that offers everything apic_virt needs (and nothing it must not rely on).
VmxCapabilities full_apic_virt() {
  VmxCapabilities caps;
  caps.procbased_ctls = allowed1(vmx::proc::activate_secondary_controls | vmx::proc::use_tpr_shadow |
                                 vmx::proc::cr8_load_exiting | vmx::proc::cr8_store_exiting);
  caps.procbased_ctls2 = allowed1(vmx::proc2::virtualize_apic_accesses | vmx::proc2::apic_register_virtualization);
  return caps;
}
}  // namespace

TEST_CASE("APIC virtualization choice: off, not needed, or used when the CPU offers it all") {
  const VmxCapabilities caps = full_apic_virt();
  auto yes = choose_apic_virtualization(caps, true, true, false);
  CHECK(yes.use);
  REQUIRE(yes.why);
  CHECK(std::string(yes.why).size() > 0);

  auto off = choose_apic_virtualization(caps, false, true, false);
  CHECK_FALSE(off.use);
  CHECK(std::string(off.why) == "apic_virt=off");
  CHECK(std::string(choose_apic_virtualization(caps, false, false, false).why) == "apic_virt=off");

  auto native = choose_apic_virtualization(caps, true, false, false);
  CHECK_FALSE(native.use);
  REQUIRE(native.why);
  CHECK(std::string(native.why).find("init_sipi") != std::string::npos);

  // Nothing offered at all.
  CHECK_FALSE(choose_apic_virtualization(VmxCapabilities{}, true, true, false).use);

  // Nested under another hypervisor: the EPT trap, whatever the (virtual) CPU offers.
  auto nested = choose_apic_virtualization(caps, true, true, true);
  CHECK_FALSE(nested.use);
  REQUIRE(nested.why);
  CHECK(std::string(nested.why).find("nested") != std::string::npos);
  CHECK(std::string(choose_apic_virtualization(caps, false, true, true).why) == "apic_virt=off");
}

TEST_CASE("APIC virtualization choice: each missing control is named") {
  struct Row {
    bool primary;
    uint32_t bit;
    const char* named;
  };
  const Row rows[] = {
      {true, vmx::proc::use_tpr_shadow, "TPR shadow"},
      {true, vmx::proc::cr8_load_exiting, "CR8-load exiting"},
      {true, vmx::proc::cr8_store_exiting, "CR8-store exiting"},
      {false, vmx::proc2::virtualize_apic_accesses, "virtualize APIC accesses"},
      {false, vmx::proc2::apic_register_virtualization, "APIC-register virtualization"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.named);
    VmxCapabilities caps = full_apic_virt();
    if (r.primary) caps.procbased_ctls &= ~allowed1(r.bit);
    else caps.procbased_ctls2 &= ~allowed1(r.bit);
    auto c = choose_apic_virtualization(caps, true, true, false);
    CHECK_FALSE(c.use);
    REQUIRE(c.why);
    CHECK(std::string(c.why).find(r.named) != std::string::npos);
  }
  // The secondary controls are there but cannot be activated: as good as missing.
  VmxCapabilities caps = full_apic_virt();
  caps.procbased_ctls &= ~allowed1(vmx::proc::activate_secondary_controls);
  auto c = choose_apic_virtualization(caps, true, true, false);
  CHECK_FALSE(c.use);
  CHECK(std::string(c.why).find("virtualize APIC accesses") != std::string::npos);
  // Allowed-0 bits (31:0) say nothing about what may be 1.
  VmxCapabilities low = full_apic_virt();
  low.procbased_ctls = vmx::proc::use_tpr_shadow |
                       allowed1(vmx::proc::activate_secondary_controls | vmx::proc::cr8_load_exiting |
                                vmx::proc::cr8_store_exiting);
  CHECK_FALSE(choose_apic_virtualization(low, true, true, false).use);
}
