// Capability MSRs (SDM Appendix A): control adjustment, the TRUE_ rule of BASIC[55], the
// MSR read order, predicates, required-feature refusals with named reasons, fixed CR bits.
#include "vmx/capabilities.hpp"

#include <catch.hpp>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "vmx/fixed_cr.hpp"

using namespace vmx;

namespace {

constexpr uint64_t ctl(uint32_t allowed0_bits, uint32_t allowed1_bits) {
  return (static_cast<uint64_t>(allowed1_bits) << 32) | allowed0_bits;
}

// A Skylake-like CPU that offers everything apexvisor needs.
VmxCapabilities good() {
  VmxCapabilities c;
  c.basic = 0x4 | (0x1000ull << 32) | (6ull << 50) | (1ull << 54) | (1ull << 55);
  c.pinbased_ctls = ctl(0x16, 0xff);
  c.true_pinbased_ctls = ctl(0x00, 0xff);
  c.procbased_ctls = ctl(0x0401e172, 0xfffbfffe);
  c.true_procbased_ctls = ctl(0x04006172, 0xfffbfffe);
  c.procbased_ctls2 = ctl(0, 0xffffffff);
  c.exit_ctls = ctl(0x00036dff, 0x7fffffff);  // no secondary VM-exit controls
  c.true_exit_ctls = ctl(0x00036dfb, 0x7fffffff);
  c.entry_ctls = ctl(0x000011ff, 0xffffffff);
  c.true_entry_ctls = ctl(0x000011fb, 0xffffffff);
  c.procbased_ctls3 = 0x1f;
  c.ept_vpid_cap = (1ull << 0) | (1ull << 6) | (1ull << 8) | (1ull << 14) | (1ull << 16) | (1ull << 17) |
                   (1ull << 20) | (1ull << 21) | (1ull << 25) | (1ull << 26) | (1ull << 32) | (1ull << 40) |
                   (1ull << 41) | (1ull << 42) | (1ull << 43);
  c.misc = 5 | (1ull << 5) | (1ull << 6) | (1ull << 7) | (1ull << 8) | (3ull << 16) | (1ull << 29);
  c.cr0_fixed0 = 0x80000021;
  c.cr0_fixed1 = 0xffffffff;
  c.cr4_fixed0 = 0x2000;
  c.cr4_fixed1 = 0x3767ff;
  c.vmcs_enum = 0x2e << 1;
  c.vmfunc = 1;
  return c;
}

}  // namespace

TEST_CASE("adjust_controls: allowed-0 bits forced on, disallowed bits dropped (SDM A.3)") {
  struct Row {
    uint32_t desired;
    uint64_t msr;
    uint32_t adjusted;
    uint32_t unsupported;
  };
  const Row rows[] = {
      {0x00000000, ctl(0x16, 0x7f), 0x16, 0},
      {0x00000001, ctl(0x16, 0x7f), 0x17, 0},
      {0x00000080, ctl(0x16, 0x7f), 0x16, 0x80},  // bit 7 may not be 1
      {0x00000041, ctl(0x16, 0x7f), 0x57, 0},
      {0xffffffff, ctl(0x16, 0x7f), 0x7f, 0xffffff80},
      {0x80000000, ctl(0, 0x80000000), 0x80000000, 0},
      {0x80000000, ctl(0, 0), 0, 0x80000000},
      {0x00000000, ctl(0xffffffff, 0xffffffff), 0xffffffff, 0},
  };
  for (const Row& r : rows) {
    CAPTURE(r.desired, r.msr);
    CHECK(adjust_controls(r.desired, r.msr) == r.adjusted);
    CHECK(unsupported_controls(r.desired, r.msr) == r.unsupported);
    CHECK(controls_valid(r.adjusted, r.msr));
    CHECK(controls_valid(r.desired, r.msr) == (r.desired == r.adjusted));
  }
  CHECK(adjust_controls64(0xff, 0x1f) == 0x1f);
  CHECK(adjust_controls64(1ull << 40, 0x1f) == 0);
}

TEST_CASE("TRUE_ controls are used exactly when IA32_VMX_BASIC[55] (SDM A.2)") {
  VmxCapabilities c = good();
  REQUIRE(c.true_controls());
  CHECK(c.adjust_pinbased(0) == 0x00);  // TRUE: default-1 bits may be 0
  CHECK(c.adjust_procbased(0) == 0x04006172);
  CHECK(c.adjust_exit(0) == 0x00036dfb);
  CHECK(c.adjust_entry(0) == 0x000011fb);
  c.basic &= ~(1ull << 55);
  CHECK_FALSE(c.true_controls());
  CHECK(c.adjust_pinbased(0) == 0x16);
  CHECK(c.adjust_procbased(0) == 0x0401e172);
  CHECK(c.adjust_exit(0) == 0x00036dff);
  CHECK(c.adjust_entry(0) == 0x000011ff);
}

TEST_CASE("secondary / tertiary controls exist only when the primary control may be 1") {
  VmxCapabilities c = good();
  CHECK(c.adjust_procbased2(proc2::enable_ept | proc2::unrestricted_guest) ==
        (proc2::enable_ept | proc2::unrestricted_guest));
  CHECK(c.adjust_procbased3(proc3::loadiwkey_exiting) == proc3::loadiwkey_exiting);
  c.procbased_ctls = ctl(0x0401e172, 0x7ffdfffe);  // no bit 31 (secondary), no bit 17 (tertiary)
  c.true_procbased_ctls = c.procbased_ctls;
  CHECK_FALSE(c.has_secondary_controls());
  CHECK_FALSE(c.has_tertiary_controls());
  CHECK(c.adjust_procbased2(proc2::enable_ept) == 0);
  CHECK(c.adjust_procbased3(proc3::loadiwkey_exiting) == 0);
  CHECK_FALSE(c.has_ept());
  CHECK_FALSE(c.ept_wb());  // EPT_VPID_CAP does not exist without EPT or VPID
}

TEST_CASE("predicates read the right bits") {
  const VmxCapabilities c = good();
  CHECK(c.vmcs_revision_id() == 4);
  CHECK(c.vmcs_region_size() == 0x1000);
  CHECK(c.vmcs_memory_type() == 6);
  CHECK(c.ins_outs_instruction_info());
  CHECK(c.has_ept());
  CHECK(c.has_vpid());
  CHECK(c.has_unrestricted_guest());
  CHECK(c.ept_4level_walk());
  CHECK_FALSE(c.ept_5level_walk());
  CHECK(c.ept_wb());
  CHECK(c.ept_uc());
  CHECK(c.ept_2mb_pages());
  CHECK(c.ept_1gb_pages());
  CHECK(c.has_invept());
  CHECK(c.invept_single_context());
  CHECK(c.invept_all_context());
  CHECK(c.has_invvpid());
  CHECK(c.invvpid_individual_address());
  CHECK(c.wait_for_sipi());
  CHECK(c.activity_hlt());
  CHECK(c.has_preemption_timer());
  CHECK(c.preemption_timer_rate() == 5);
  CHECK(c.cr3_target_count() == 3);
  CHECK(c.max_msr_list_entries() == 512);
  CHECK(c.vmwrite_exit_info());
  CHECK(c.can_load_efer_on_entry());
  CHECK(c.can_save_efer_on_exit());
  CHECK(c.can_load_efer_on_exit());
  CHECK(c.has_secondary_controls());
  CHECK(c.vmcs_max_index() == 0x2e);
  CHECK(c.vmfunc_eptp_switching());
  VmxCapabilities m = c;
  m.misc &= ~(1ull << 8);
  CHECK_FALSE(m.wait_for_sipi());
  m.pinbased_ctls = m.true_pinbased_ctls = ctl(0x16, 0xbf);
  CHECK_FALSE(m.has_preemption_timer());
}

TEST_CASE("check_required: a complete CPU passes") {
  const CheckResult r = check_required(good());
  CHECK(r.ok);
  CHECK(r.missing == Feature::count);
  CHECK(std::string(r.reason).empty());
}

TEST_CASE("check_required: names the first missing required feature") {
  struct Row {
    const char* what;
    std::function<void(VmxCapabilities&)> remove;
    Feature missing;
    const char* reason_part;
  };
  auto drop_proc2 = [](uint32_t bit) {
    return [bit](VmxCapabilities& c) { c.procbased_ctls2 &= ~(static_cast<uint64_t>(bit) << 32); };
  };
  auto drop_exit = [](uint32_t bit) {
    return [bit](VmxCapabilities& c) {
      c.exit_ctls &= ~(static_cast<uint64_t>(bit) << 32);
      c.true_exit_ctls &= ~(static_cast<uint64_t>(bit) << 32);
    };
  };
  auto drop_entry = [](uint32_t bit) {
    return [bit](VmxCapabilities& c) {
      c.entry_ctls &= ~(static_cast<uint64_t>(bit) << 32);
      c.true_entry_ctls &= ~(static_cast<uint64_t>(bit) << 32);
    };
  };
  auto drop_proc = [](uint32_t bit) {
    return [bit](VmxCapabilities& c) {
      c.procbased_ctls &= ~(static_cast<uint64_t>(bit) << 32);
      c.true_procbased_ctls &= ~(static_cast<uint64_t>(bit) << 32);
    };
  };
  auto drop_ept_cap = [](unsigned bit) {
    return [bit](VmxCapabilities& c) { c.ept_vpid_cap &= ~(1ull << bit); };
  };
  const Row rows[] = {
      {"UC VMCS", [](VmxCapabilities& c) { c.basic &= ~(0xfull << 50); }, Feature::vmcs_write_back, "53:50"},
      {"8 KiB VMCS", [](VmxCapabilities& c) { c.basic = (c.basic & ~(0x1fffull << 32)) | (0x1001ull << 32); },
       Feature::vmcs_fits_page, "44:32"},
      {"no 64-bit host", drop_exit(exit_ctl::host_address_space_size), Feature::host_64bit,
       "host address-space size"},
      {"no IA-32e guest", drop_entry(entry_ctl::ia32e_mode_guest), Feature::ia32e_mode_guest,
       "IA-32e mode guest"},
      {"no secondary controls", drop_proc(proc::activate_secondary_controls), Feature::secondary_controls,
       "secondary processor-based controls"},
      {"no MSR bitmaps", drop_proc(proc::use_msr_bitmaps), Feature::msr_bitmaps, "use MSR bitmaps"},
      {"no EPT", drop_proc2(proc2::enable_ept), Feature::ept, "enable EPT"},
      {"no 4-level EPT", drop_ept_cap(6), Feature::ept_4level, "page-walk length 4"},
      {"no WB EPT", drop_ept_cap(14), Feature::ept_write_back, "write-back"},
      {"no INVEPT", drop_ept_cap(20), Feature::invept, "INVEPT"},
      {"INVEPT without types", [](VmxCapabilities& c) { c.ept_vpid_cap &= ~((1ull << 25) | (1ull << 26)); },
       Feature::invept, "INVEPT"},
      {"no unrestricted guest", drop_proc2(proc2::unrestricted_guest), Feature::unrestricted_guest,
       "unrestricted guest"},
      {"no EFER load on entry", drop_entry(entry_ctl::load_ia32_efer), Feature::load_efer_on_entry,
       "load IA32_EFER"},
      {"no EFER save on exit", drop_exit(exit_ctl::save_ia32_efer), Feature::save_efer_on_exit,
       "save IA32_EFER"},
      {"no EFER load on exit", drop_exit(exit_ctl::load_ia32_efer), Feature::load_efer_on_exit,
       "load IA32_EFER"},
      // A CPU whose (TRUE) controls force CR3-load exiting on: a guest's MOV to CR3 would exit
      // with no handler (vmm/exit_audit.def calls it never).
      {"CR3-load exiting forced on", [](VmxCapabilities& c) {
         c.procbased_ctls |= proc::cr3_load_exiting;
         c.true_procbased_ctls |= proc::cr3_load_exiting;
       }, Feature::no_forced_exiting, "CR3-load exiting"},
      {"HLT exiting forced on", [](VmxCapabilities& c) {
         c.procbased_ctls |= proc::hlt_exiting;
         c.true_procbased_ctls |= proc::hlt_exiting;
       }, Feature::no_forced_exiting, "cannot be 0"},
      {"no TRUE controls: the plain MSR's default1 CR3-load/store exiting", [](VmxCapabilities& c) {
         c.basic &= ~(1ull << 55);
       }, Feature::no_forced_exiting, "CR3-load exiting"},
  };
  std::set<Feature> covered;
  for (const Row& row : rows) {
    CAPTURE(row.what);
    VmxCapabilities c = good();
    row.remove(c);
    const CheckResult r = check_required(c);
    CHECK_FALSE(r.ok);
    CHECK(r.missing == row.missing);
    CHECK(std::string(r.reason).find(row.reason_part) != std::string::npos);
    CHECK(std::string(r.reason) == feature_info(row.missing).reason);
    CHECK(feature_info(row.missing).required);
    covered.insert(row.missing);
  }
  // Every required feature has a refusal row above.
  for (size_t i = 0; i < static_cast<size_t>(Feature::count); ++i) {
    const FeatureInfo& fi = feature_info(static_cast<Feature>(i));
    CAPTURE(fi.name);
    CHECK(fi.feature == static_cast<Feature>(i));
    if (fi.required) CHECK(covered.count(fi.feature) == 1);
  }
}

TEST_CASE("check_required: optional features never refuse; VPID is optional") {
  struct Row {
    Feature f;
    std::function<void(VmxCapabilities&)> remove;
  };
  const Row rows[] = {
      {Feature::vpid, [](VmxCapabilities& c) { c.procbased_ctls2 &= ~(uint64_t(proc2::enable_vpid) << 32); }},
      {Feature::wait_for_sipi, [](VmxCapabilities& c) { c.misc &= ~(1ull << 8); }},
      {Feature::preemption_timer,
       [](VmxCapabilities& c) { c.true_pinbased_ctls &= ~(uint64_t(pin::preemption_timer) << 32); }},
      {Feature::ept_2mb_pages, [](VmxCapabilities& c) { c.ept_vpid_cap &= ~(1ull << 16); }},
      {Feature::ept_1gb_pages, [](VmxCapabilities& c) { c.ept_vpid_cap &= ~(1ull << 17); }},
      {Feature::apx_exit_info, [](VmxCapabilities& c) { c.host_apx = false; }},
  };
  for (const Row& row : rows) {
    CAPTURE(feature_info(row.f).name);
    VmxCapabilities c = good();
    c.host_apx = true;
    CHECK(has_feature(c, row.f));
    row.remove(c);
    CHECK_FALSE(has_feature(c, row.f));
    CHECK_FALSE(feature_info(row.f).required);
    CHECK(check_required(c).ok);
  }
}

TEST_CASE("load_capabilities never reads an MSR the CPU lacks") {
  struct FakeMsrs {
    std::map<uint32_t, uint64_t> present;
    std::set<uint32_t> read;
    bool faulted = false;
  };
  auto reader = [](void* ctx, uint32_t msr) -> uint64_t {
    auto* f = static_cast<FakeMsrs*>(ctx);
    f->read.insert(msr);
    auto it = f->present.find(msr);
    if (it == f->present.end()) {
      f->faulted = true;  // RDMSR would #GP
      return 0;
    }
    return it->second;
  };
  const VmxCapabilities g = good();
  SECTION("a full CPU: every MSR read, TRUE_ included") {
    FakeMsrs m;
    m.present = {{0x480, g.basic},          {0x481, g.pinbased_ctls},      {0x482, g.procbased_ctls},
                 {0x483, g.exit_ctls},      {0x484, g.entry_ctls},         {0x485, g.misc},
                 {0x486, g.cr0_fixed0},     {0x487, g.cr0_fixed1},         {0x488, g.cr4_fixed0},
                 {0x489, g.cr4_fixed1},     {0x48a, g.vmcs_enum},          {0x48b, g.procbased_ctls2},
                 {0x48c, g.ept_vpid_cap},   {0x48d, g.true_pinbased_ctls}, {0x48e, g.true_procbased_ctls},
                 {0x48f, g.true_exit_ctls}, {0x490, g.true_entry_ctls},    {0x491, g.vmfunc},
                 {0x492, g.procbased_ctls3}};
    const VmxCapabilities c = load_capabilities(reader, &m, true);
    CHECK_FALSE(m.faulted);
    CHECK(c.host_apx);
    CHECK(c.true_entry_ctls == g.true_entry_ctls);
    CHECK(c.ept_vpid_cap == g.ept_vpid_cap);
    CHECK(c.procbased_ctls3 == g.procbased_ctls3);
    CHECK(c.vmfunc == g.vmfunc);
    CHECK(check_required(c).ok);
    CHECK(m.read.count(0x493) == 0);  // no secondary exit controls offered
  }
  SECTION("an old CPU: no TRUE_, no secondary controls, so none of their MSRs") {
    FakeMsrs m;
    const uint64_t basic = g.basic & ~(1ull << 55);
    const uint64_t proc = ctl(0x0401e172, 0x7ffdfffe);
    m.present = {{0x480, basic},        {0x481, g.pinbased_ctls}, {0x482, proc},
                 {0x483, g.exit_ctls},  {0x484, g.entry_ctls},    {0x485, g.misc},
                 {0x486, g.cr0_fixed0}, {0x487, g.cr0_fixed1},    {0x488, g.cr4_fixed0},
                 {0x489, g.cr4_fixed1}, {0x48a, g.vmcs_enum}};
    const VmxCapabilities c = load_capabilities(reader, &m, false);
    CHECK_FALSE(m.faulted);
    for (uint32_t msr : {0x48bu, 0x48cu, 0x48du, 0x48eu, 0x48fu, 0x490u, 0x491u, 0x492u}) {
      CAPTURE(msr);
      CHECK(m.read.count(msr) == 0);
    }
    const CheckResult r = check_required(c);
    CHECK_FALSE(r.ok);
    CHECK(r.missing == Feature::secondary_controls);
  }
}

TEST_CASE("CR0/CR4 fixed bits, with the unrestricted-guest exemption (SDM A.7, A.8)") {
  const VmxCapabilities c = good();  // CR0 FIXED0 = PE|NE|PG, CR4 FIXED0 = VMXE
  struct Row {
    uint64_t in;
    bool ug;
    uint64_t out;
    bool in_ok;
  };
  const Row cr0[] = {
      {0x00000000, false, 0x80000021, false},
      {0x00000000, true, 0x00000020, false},  // real mode: PE/PG may stay 0
      {0x00000011, true, 0x00000031, false},
      {0x80000031, false, 0x80000031, true},
      {0x80000031, true, 0x80000031, true},
      {0x1'80000031, false, 0x80000031, false},  // bits 63:32 must be 0 (not in FIXED1)
  };
  for (const Row& r : cr0) {
    CAPTURE(r.in, r.ug);
    CHECK(apply_cr0_fixed(r.in, c, r.ug) == r.out);
    CHECK(cr0_fixed_ok(r.in, c, r.ug) == r.in_ok);
    CHECK(cr0_fixed_ok(apply_cr0_fixed(r.in, c, r.ug), c, r.ug));
  }
  // PG without PE is never valid, exemption or not.
  CHECK_FALSE(cr0_fixed_ok(0x80000020, c, true));
  CHECK(apply_cr4_fixed(0, c) == 0x2000);
  CHECK(apply_cr4_fixed(0x00400020, c) == 0x2020);  // bit 22 not allowed by FIXED1
  CHECK(cr4_fixed_ok(0x2020, c));
  CHECK_FALSE(cr4_fixed_ok(0x20, c));
}

TEST_CASE("vmcs_field_supported: VMCS_ENUM index and feature dependencies") {
  VmxCapabilities c = good();
  CHECK(vmcs_field_supported(c, VmcsField::guest_rip));
  CHECK(vmcs_field_supported(c, VmcsField::ept_pointer));
  CHECK(vmcs_field_supported(c, VmcsField::virtual_processor_id));
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::extended_instruction_info));  // no APX host
  c.host_apx = true;
  CHECK(vmcs_field_supported(c, VmcsField::extended_instruction_info));
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::secondary_vm_exit_controls));
  c.vmcs_enum = 0x10 << 1;                                                      // highest index 0x10
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::secondary_vm_exit_controls));  // index 0x22
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::guest_ia32_interrupt_ssp_table_address));
  CHECK(vmcs_field_supported(c, VmcsField::guest_rip));  // index 0x0f
  c = good();
  c.procbased_ctls2 &= ~(uint64_t(proc2::enable_ept) << 32);
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::ept_pointer));
  CHECK_FALSE(vmcs_field_supported(c, VmcsField::guest_pdpte0));
}
