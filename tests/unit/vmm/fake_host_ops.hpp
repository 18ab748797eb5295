// An in-memory HostOps for handler tests (vmm/host_ops.hpp): a small MSR file where each MSR
// either holds a value or faults, a CPUID answer per leaf, an XSETBV that can be told to
// fault, and a record of every call so a test can check what the handler did to the host.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmm/host_ops.hpp"

namespace vmm_test {

class FakeHostOps final : public vmm::HostOps {
 public:
  static constexpr size_t kMaxMsrs = 16;
  static constexpr size_t kMaxLeaves = 8;

  // --- the seam ---------------------------------------------------------------------
  bool rdmsr_safe(uint32_t msr, uint64_t* value) override {
    ++rdmsr_calls;
    last_rdmsr = msr;
    const Msr* m = find(msr);
    if (!m || m->faults) return false;  // an MSR the fake CPU lacks: #GP in hardware
    *value = m->value;
    return true;
  }
  bool wrmsr_safe(uint32_t msr, uint64_t value) override {
    ++wrmsr_calls;
    last_wrmsr = msr;
    last_wrmsr_value = value;
    Msr* m = find(msr);
    if (!m || m->faults || m->write_faults) return false;
    m->value = value;
    return true;
  }
  arch::CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf) override {
    ++cpuid_calls;
    for (size_t i = 0; i < leaf_count_; ++i)
      if (leaves_[i].leaf == leaf && leaves_[i].subleaf == subleaf) return leaves_[i].regs;
    return {0, 0, 0, 0};
  }
  bool xsetbv_safe(uint32_t index, uint64_t value) override {
    ++xsetbv_calls;
    last_xsetbv_index = index;
    last_xsetbv_value = value;
    if (xsetbv_faults) return false;
    xcr0 = value;
    return true;
  }
  void invd_as_wbinvd() override { ++wbinvd_calls; }
  void flush_guest_tlb(uint16_t vpid) override {
    ++tlb_flushes;
    last_flushed_vpid = vpid;
  }
  uint64_t host_supported_xcr0() override { return supported_xcr0; }

  // --- test controls -----------------------------------------------------------------
  // An MSR that exists with `value`; `write_faults`: WRMSR #GPs (e.g. a read-only MSR).
  void set_msr(uint32_t msr, uint64_t value, bool write_faults = false) {
    Msr* m = find(msr);
    if (!m && msr_count_ < kMaxMsrs) m = &msrs_[msr_count_++];
    if (m) *m = Msr{msr, value, false, write_faults};
  }
  // An MSR whose every access #GPs; same as never setting it, but explicit in a table row.
  void set_msr_faulting(uint32_t msr) {
    Msr* m = find(msr);
    if (!m && msr_count_ < kMaxMsrs) m = &msrs_[msr_count_++];
    if (m) *m = Msr{msr, 0, true, true};
  }
  uint64_t msr(uint32_t number) const {
    for (size_t i = 0; i < msr_count_; ++i)
      if (msrs_[i].number == number) return msrs_[i].value;
    return 0;
  }
  void set_cpuid(uint32_t leaf, uint32_t subleaf, arch::CpuidRegs regs) {
    if (leaf_count_ < kMaxLeaves) leaves_[leaf_count_++] = Leaf{leaf, subleaf, regs};
  }

  bool xsetbv_faults = false;
  uint64_t supported_xcr0 = 0;
  uint64_t xcr0 = 1;  // what the fake CPU's XCR0 holds after the last successful XSETBV

  // Call record.
  unsigned rdmsr_calls = 0, wrmsr_calls = 0, cpuid_calls = 0, xsetbv_calls = 0, wbinvd_calls = 0;
  unsigned tlb_flushes = 0;
  uint16_t last_flushed_vpid = 0;
  uint32_t last_rdmsr = 0, last_wrmsr = 0, last_xsetbv_index = 0;
  uint64_t last_wrmsr_value = 0, last_xsetbv_value = 0;

 private:
  struct Msr {
    uint32_t number;
    uint64_t value;
    bool faults;
    bool write_faults;
  };
  struct Leaf {
    uint32_t leaf, subleaf;
    arch::CpuidRegs regs;
  };
  Msr* find(uint32_t msr) {
    for (size_t i = 0; i < msr_count_; ++i)
      if (msrs_[i].number == msr) return &msrs_[i];
    return nullptr;
  }
  Msr msrs_[kMaxMsrs] = {};
  size_t msr_count_ = 0;
  Leaf leaves_[kMaxLeaves] = {};
  size_t leaf_count_ = 0;
};

}  // namespace vmm_test
