// Exit reasons (SDM Appendix C) and the exit-reason field (SDM 25.9.1).
#include "vmx/exit_reason.hpp"

#include <catch.hpp>
#include <cstring>
#include <set>
#include <string>

using namespace vmx;

TEST_CASE("exit reasons: numbers and names from Appendix C") {
  struct Row {
    uint16_t n;
    const char* name;
  };
  const Row rows[] = {
      {0, "exception_or_nmi"},
      {1, "external_interrupt"},
      {2, "triple_fault"},
      {3, "init_signal"},
      {4, "startup_ipi"},
      {7, "interrupt_window"},
      {9, "task_switch"},
      {10, "cpuid"},
      {12, "hlt"},
      {18, "vmcall"},
      {19, "vmclear"},
      {23, "vmread"},
      {25, "vmwrite"},
      {27, "vmxon"},
      {28, "control_register_access"},
      {29, "mov_dr"},
      {30, "io_instruction"},
      {31, "rdmsr"},
      {32, "wrmsr"},
      {33, "entry_failure_invalid_guest_state"},
      {34, "entry_failure_msr_loading"},
      {36, "mwait"},
      {37, "monitor_trap_flag"},
      {39, "monitor"},
      {40, "pause"},
      {41, "entry_failure_machine_check"},
      {43, "tpr_below_threshold"},
      {44, "apic_access"},
      {46, "gdtr_idtr_access"},
      {47, "ldtr_tr_access"},
      {48, "ept_violation"},
      {49, "ept_misconfiguration"},
      {50, "invept"},
      {51, "rdtscp"},
      {52, "preemption_timer_expired"},
      {53, "invvpid"},
      {54, "wbinvd_wbnoinvd"},
      {55, "xsetbv"},
      {56, "apic_write"},
      {57, "rdrand"},
      {58, "invpcid"},
      {59, "vmfunc"},
      {60, "encls"},
      {61, "rdseed"},
      {62, "page_modification_log_full"},
      {63, "xsaves"},
      {64, "xrstors"},
      {65, "pconfig"},
      {66, "spp_related_event"},
      {67, "umwait"},
      {68, "tpause"},
      {69, "loadiwkey"},
      {70, "enclv"},
      {74, "bus_lock"},
      {75, "instruction_timeout"},
      {76, "seamcall"},
      {77, "tdcall"},
      {78, "rdmsrlist"},
      {79, "wrmsrlist"},
      {84, "rdmsr_immediate"},
      {85, "wrmsrns_immediate"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.n);
    REQUIRE(exit_reason_name(r.n) != nullptr);
    CHECK(std::strcmp(exit_reason_name(r.n), r.name) == 0);
  }
  CHECK(static_cast<uint16_t>(ExitReason::ept_violation) == 48);
  CHECK(static_cast<uint16_t>(ExitReason::xsetbv) == 55);
}

TEST_CASE("exit reasons: holes, limits, uniqueness") {
  for (uint16_t hole : {35, 38, 42, 71, 82, 83, 86, 1000, 0xffff}) {
    CAPTURE(hole);
    CHECK(exit_reason_name(hole) == nullptr);
    CHECK_FALSE(exit_reason_known(hole));
  }
  CHECK(kExitReasonLimit == 86);
  std::set<uint16_t> nums;
  std::set<std::string> names;
  uint16_t prev = 0;
  for (size_t i = 0; i < kExitReasonCount; ++i) {
    const auto n = static_cast<uint16_t>(kExitReasons[i]);
    CHECK(nums.insert(n).second);
    CHECK(names.insert(exit_reason_name(n)).second);
    if (i) CHECK(n > prev);  // table in numeric order
    prev = n;
  }
  // Every number from 0 to 81 except the SDM's holes is named.
  for (uint16_t n = 0; n <= 81; ++n) {
    const bool hole = n == 35 || n == 38 || n == 42 || n == 71;
    CAPTURE(n);
    CHECK(exit_reason_known(n) == !hole);
  }
}

TEST_CASE("exit-reason field bits (SDM 25.9.1)") {
  struct Row {
    uint32_t raw;
    uint16_t basic;
    bool busy, lock, enclave, mtf, root, fail;
  };
  const Row rows[] = {
      {0x0000000a, 10, false, false, false, false, false, false},
      {0x80000021, 33, false, false, false, false, false, true},
      {0x08000030, 48, false, false, true, false, false, false},
      {0x10000025, 37, false, false, false, true, false, false},
      {0x20000012, 18, false, false, false, false, true, false},
      {0x04000000, 0, false, true, false, false, false, false},
      {0x02000001, 1, true, false, false, false, false, false},
  };
  for (const Row& r : rows) {
    const ExitReasonField e{r.raw};
    CAPTURE(r.raw);
    CHECK(e.basic() == r.basic);
    CHECK(e.shadow_stack_busy() == r.busy);
    CHECK(e.bus_lock_asserted() == r.lock);
    CHECK(e.enclave_mode() == r.enclave);
    CHECK(e.pending_mtf() == r.mtf);
    CHECK(e.from_vmx_root() == r.root);
    CHECK(e.entry_failure() == r.fail);
  }
  CHECK(ExitReasonField{0x80000021}.reason() == ExitReason::entry_failure_invalid_guest_state);
}
