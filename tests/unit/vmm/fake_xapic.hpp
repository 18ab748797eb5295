// Fakes for the xAPIC side of APIC virtualization (vmm/apic/xapic_registers.hpp,
// ap_intercept.hpp, virtual_apic.hpp): a real local APIC as 1024 words with a log of every
// access, ApTargets over a few mailboxes, and an APIC-access emulator that records its calls.
#pragma once
#include <stdint.h>

#include <ostream>
#include <vector>

#include "handler_fixture.hpp"
#include "vmm/apic/ap_intercept.hpp"
#include "vmm/apic/virtual_apic.hpp"
#include "vmm/apic/xapic_registers.hpp"

namespace vmm_test {

namespace xapic = vmm::apic::xapic;

// One CPU's xAPIC. Writes keep only the bits the register can hold, as the real APIC does,
// so a read back after a write is observable: LDR keeps bits 31:24, TPR bits 7:0, the LVT
// timer loses its read-only delivery status (bit 12), ICR low reads idle (bit 12 clear),
// EOI is write-only (reads 0). Every other register keeps the whole value.
class FakeXapic final : public vmm::apic::XapicRegisters {
 public:
  struct Access {
    unsigned offset;
    uint32_t value;
    bool operator==(const Access&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const Access& a) {
      return os << "{0x" << std::hex << a.offset << ": 0x" << a.value << std::dec << "}";
    }
  };

  uint32_t read(unsigned offset) override {
    reads.push_back(offset);
    return word[index(offset)];
  }
  void write(unsigned offset, uint32_t value) override {
    writes.push_back({offset, value});
    word[index(offset)] = value & writable(offset);
  }
  void copy_registers(unsigned offset, unsigned count, uint32_t* dst) override {
    for (unsigned k = 0; k < count; ++k) dst[4 * k] = read(offset + 16 * k);
  }

  // Test controls: what the register holds, without logging.
  void set(unsigned offset, uint32_t value) { word[index(offset)] = value; }
  uint32_t get(unsigned offset) const { return word[index(offset)]; }

  // The writes to one register, in order.
  std::vector<uint32_t> writes_to(unsigned offset) const {
    std::vector<uint32_t> v;
    for (const Access& a : writes)
      if (a.offset == offset) v.push_back(a.value);
    return v;
  }

  static uint32_t writable(unsigned offset) {
    switch (offset) {
      case xapic::ldr: return 0xff000000u;
      case xapic::tpr: return 0x000000ffu;
      case xapic::lvt_timer: return 0x000700ffu;  // mode 18:17, mask 16, vector 7:0
      case xapic::icr_low: return ~xapic::kIcrDeliveryPending;
      case xapic::eoi: return 0;
      default: return ~0u;
    }
  }

  uint32_t word[1024] = {};
  std::vector<Access> writes;
  std::vector<unsigned> reads;

 private:
  static unsigned index(unsigned offset) { return (offset & 0xffc) / 4; }
};

// CPUs 0..3: which are virtualized, and their mailboxes.
class FakeTargets final : public vmm::apic::ApTargets {
 public:
  bool virtualized(unsigned cpu) override { return cpu < 4 && virt[cpu]; }
  vmm::apic::ApMailbox* mailbox(unsigned cpu) override { return cpu < 4 ? &box[cpu] : nullptr; }

  bool virt[4] = {true, true, true, true};
  vmm::apic::ApMailbox box[4];
};

// Records each APIC-access emulation, with the real ICR high at the time of the call (the
// ICR low write it might emulate sends with it), and can write one register of the real
// APIC as the emulated instruction would.
class FakeEmulator final : public vmm::apic::ApicAccessEmulator {
 public:
  explicit FakeEmulator(FakeXapic& real) : real_(real) {}
  vmm::ExitAction emulate_apic_access(vmm::ExitContext& ctx, uint64_t gpa, bool write) override {
    ++calls;
    last_gpa = gpa;
    last_write = write;
    last_ctx = &ctx;
    icr_high_seen = real_.get(xapic::icr_high);
    if (writes) real_.write(write_offset, write_value);
    return result;
  }

  unsigned calls = 0;
  uint64_t last_gpa = 0;
  bool last_write = false;
  const vmm::ExitContext* last_ctx = nullptr;
  uint32_t icr_high_seen = 0;
  bool writes = false;  // the emulated instruction writes write_value at write_offset
  unsigned write_offset = 0;
  uint32_t write_value = 0;
  vmm::ExitAction result = vmm::ExitAction::advance();

 private:
  FakeXapic& real_;
};

// An exit handled with apic_virt: CPU 0 (APIC id 0) takes the exit; CPU 1 has APIC id 5.
// The APIC base MSR value carries flag bits (BSP, enable) that the VirtualApic must drop.
struct VapicFixture : HandlerFixture {
  using ApicTopology = vmm::apic::ApicTopology;
  using VirtualApicPage = vmm::apic::VirtualApicPage;
  using VirtualApic = vmm::apic::VirtualApic;
  FakeXapic real;
  FakeTargets targets;
  FakeEmulator emu{real};
  ApicTopology topo;
  VirtualApicPage page{};
  VirtualApic vapic;
  VapicFixture() {
    topo.count = 2;
    topo.apic_id[0] = 0;
    topo.apic_id[1] = 5;
    topo.logical_id[0] = 0x01;
    topo.logical_id[1] = 0x02;
    vcpu.index = 0;
    vcpu.vapic = &page;
    vapic.init(0xfee00900, &real, &topo, &targets, &emu);
  }
  uint64_t threshold() const { return vmcs.get(VmcsField::tpr_threshold); }
  void set_hardware_owned() {
    for (unsigned i = 0; i < 8; ++i) {
      real.set(0x100 + 16 * i, 0x11110000u | i);
      real.set(0x180 + 16 * i, 0x22220000u | i);
      real.set(0x200 + 16 * i, 0x33330000u | i);
    }
  }
  void check_hardware_owned() const {
    for (unsigned i = 0; i < 8; ++i) {
      CAPTURE(i);
      CHECK(page.get(0x100 + 16 * i) == (0x11110000u | i));
      CHECK(page.get(0x180 + 16 * i) == (0x22220000u | i));
      CHECK(page.get(0x200 + 16 * i) == (0x33330000u | i));
    }
  }
};


}  // namespace vmm_test
