// The VMCS dump: one "name (0xenc) = 0x..." line per field, in table order, through a sink.
#include "vmx/vmcs_dump.hpp"

#include <catch.hpp>
#include <string>
#include <vector>

#include "vmx/capabilities.hpp"
#include "vmx/fake_vmcs.hpp"

using namespace vmx;

namespace {
void collect(void* ctx, const char* line) { static_cast<std::vector<std::string>*>(ctx)->push_back(line); }
bool only_guest(const void*, VmcsField f) { return vmcs_field_group(f) == VmcsGroup::guest; }
}  // namespace

TEST_CASE("dump: line format per width") {
  struct Row {
    VmcsField f;
    uint64_t value;
    const char* line;
  };
  const Row rows[] = {
      {VmcsField::guest_cs_selector, 0x8, "guest_cs_selector (0x0802) = 0x0008"},
      {VmcsField::exit_reason, 0x30, "exit_reason (0x4402) = 0x00000030"},
      {VmcsField::extended_instruction_info, 0x131c1d00018aull,
       "extended_instruction_info (0x2406) = 0x0000131c1d00018a"},
      {VmcsField::guest_rip, 0xfffffff0, "guest_rip (0x681e) = 0x00000000fffffff0"},
      {VmcsField::guest_ia32_interrupt_ssp_table_address, ~0ull,
       "guest_ia32_interrupt_ssp_table_address (0x682c) = 0xffffffffffffffff"},
  };
  for (const Row& r : rows) {
    char buf[kDumpLineMax];
    format_vmcs_line(buf, r.f, r.value);
    CHECK(std::string(buf) == r.line);
  }
}

TEST_CASE("dump: every field, in table order, longest line fits") {
  FakeVmcs v;
  for (VmcsField f : kVmcsFields) v.set(f, ~0ull);
  std::vector<std::string> lines;
  CHECK(dump_vmcs(v, collect, &lines) == kVmcsFieldCount);
  REQUIRE(lines.size() == kVmcsFieldCount);
  for (size_t i = 0; i < kVmcsFieldCount; ++i) {
    CAPTURE(i);
    CHECK(lines[i].rfind(std::string(vmcs_field_name(kVmcsFields[i])) + " (0x", 0) == 0);
    CHECK(lines[i].size() < kDumpLineMax);
  }
  CHECK(lines.front() == "virtual_processor_id (0x0000) = 0xffff");
}

TEST_CASE("dump: unreadable fields are marked or skipped; a filter skips fields") {
  FakeVmcs v;
  v.mark_unsupported(VmcsField::extended_instruction_info);
  std::vector<std::string> lines;
  dump_vmcs(v, collect, &lines);
  size_t marked = 0;
  for (auto& l : lines) marked += l == "extended_instruction_info (0x2406) = <vmread failed>";
  CHECK(marked == 1);

  lines.clear();
  DumpOptions skip;
  skip.skip_unreadable = true;
  CHECK(dump_vmcs(v, collect, &lines, skip) == kVmcsFieldCount - 1);

  lines.clear();
  DumpOptions guest;
  guest.supported = only_guest;
  const size_t n = dump_vmcs(v, collect, &lines, guest);
  size_t expected = 0;
  for (VmcsField f : kVmcsFields) expected += vmcs_field_group(f) == VmcsGroup::guest;
  CHECK(n == expected);
  size_t i = 0;
  for (VmcsField f : kVmcsFields) {
    if (vmcs_field_group(f) != VmcsGroup::guest) continue;
    CHECK(lines[i++].rfind(std::string(vmcs_field_name(f)) + " (", 0) == 0);
  }
}

TEST_CASE("dump: the capability filter leaves out fields the CPU lacks") {
  VmxCapabilities caps;
  caps.vmcs_enum = 0x17 << 1;  // highest index 0x17
  // no secondary controls at all: no EPT pointer, no VPID, no PML, no extended info
  FakeVmcs v;
  std::vector<std::string> lines;
  DumpOptions o;
  o.supported = vmcs_field_supported_filter;
  o.supported_ctx = &caps;
  dump_vmcs(v, collect, &lines, o);
  for (auto& l : lines) {
    CAPTURE(l);
    CHECK(l.rfind("ept_pointer", 0) != 0);
    CHECK(l.rfind("virtual_processor_id", 0) != 0);
    CHECK(l.rfind("extended_instruction_info", 0) != 0);
  }
  bool has_rip = false;
  for (auto& l : lines) has_rip |= l.rfind("guest_rip (", 0) == 0;
  CHECK(has_rip);
}

TEST_CASE("vmcs fields that may hold hypervisor addresses: host state and pointer controls") {
  using vmx::VmcsField;
  using vmx::vmcs_field_may_hold_hypervisor_address;
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::host_rsp));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::host_rip));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::host_cs_selector));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::msr_bitmap));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::ept_pointer));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::virtual_apic_address));
  CHECK(vmcs_field_may_hold_hypervisor_address(VmcsField::io_bitmap_a));
  CHECK_FALSE(vmcs_field_may_hold_hypervisor_address(VmcsField::guest_rip));
  CHECK_FALSE(vmcs_field_may_hold_hypervisor_address(VmcsField::guest_physical_address));
  CHECK_FALSE(vmcs_field_may_hold_hypervisor_address(VmcsField::apic_access_address));
  CHECK_FALSE(vmcs_field_may_hold_hypervisor_address(VmcsField::tsc_offset));
  CHECK_FALSE(vmcs_field_may_hold_hypervisor_address(VmcsField::virtual_processor_id));
  // Every host-state field of the table is private, whatever its width.
  for (VmcsField f : vmx::kVmcsFields)
    if (vmx::vmcs_field_group(f) == vmx::VmcsGroup::host) CHECK(vmcs_field_may_hold_hypervisor_address(f));
}

// The stop dump's registers (issue P11): R16..R31 appear exactly when the guest's XCR0.APX is
// set, with their own values, and RSP never (it is in the VMCS dump as guest_rsp).
TEST_CASE("dump: guest GPRs, R16-R31 only with the guest's APX") {
  vmx::GprFile regs;
  for (unsigned n = 0; n < 32; ++n) regs.gpr[n] = 0xa000000000000000ull + n;
  for (bool egprs : {false, true}) {
    CAPTURE(egprs);
    std::vector<std::string> lines;
    const size_t n = vmx::dump_gprs(regs, egprs, collect, &lines);
    REQUIRE(n == lines.size());
    REQUIRE(lines.size() == (egprs ? 8u : 4u));
    CHECK(lines[0] == "rax=0xa000000000000000 rcx=0xa000000000000001 rdx=0xa000000000000002 rbx=0xa000000000000003");
    CHECK(lines[1] == "rbp=0xa000000000000005 rsi=0xa000000000000006 rdi=0xa000000000000007");
    CHECK(lines[3] == "r12=0xa00000000000000c r13=0xa00000000000000d r14=0xa00000000000000e r15=0xa00000000000000f");
    if (egprs) {
      CHECK(lines[4] == "r16=0xa000000000000010 r17=0xa000000000000011 r18=0xa000000000000012 r19=0xa000000000000013");
      CHECK(lines[7] == "r28=0xa00000000000001c r29=0xa00000000000001d r30=0xa00000000000001e r31=0xa00000000000001f");
    }
    std::string all;
    for (const auto& l : lines) {
      CHECK(l.size() < vmx::kDumpLineMax);
      all += l + "\n";
    }
    CHECK(all.find("rsp=") == std::string::npos);
    CHECK((all.find("r16=") != std::string::npos) == egprs);
  }
}
