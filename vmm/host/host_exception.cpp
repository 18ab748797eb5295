// What the host does with an exception in VMX root (host_exceptions.S saves the frame).
#include "arch/cpu.hpp"
#include "vmm/apic/ap_runtime.hpp"
#include "vmm/host/host_cpu.hpp"
#include "vmm/host/host_safe_ops.hpp"
#include "vmm/host/reentry_window.hpp"
#include "vmm/log/log.hpp"
#include "vmm/vcpu.hpp"

namespace {

struct ExceptionFrame {
  uint64_t gpr[16];
  uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct Fixup {
  uint64_t insn, resume;
};

const char* const kNames[32] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
                                "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
                                "22",  "23",  "24",  "25",  "26",  "27",  "#HV", "#VC", "#SX", "31"};

}  // namespace

extern "C" const Fixup apex_fault_fixups[];
// The exit stub's re-entry window (vmx/entry/vm_entry_exit.S): {start, VMRESUME}.
extern "C" const uint64_t apex_reentry_window[2];

extern "C" void apex_host_exception(ExceptionFrame* f) {
  // Host GS base holds this CPU's HostCpu (set in the VMCS host state).
  auto* cpu = reinterpret_cast<vmm::HostCpu*>(arch::rdmsr(arch::Msr::IA32_GS_BASE));
  // NMI: another CPU's wake-up for the mailbox (one kick each, counted by the sender), else
  // the guest's, delivered before the next VM entry. Sorted here, one NMI at a time, so that
  // the pending bit stands for guest NMIs only and a spare kick never swallows one.
  // Either kind may have armed work after the exit stub's last test of it: an NMI inside the
  // stub's re-entry window returns to the window's start (vmm/host/reentry_window.hpp).
  if (f->vector == 2) {
    if (cpu && cpu->vcpu && !vmm::apic::is_wakeup_nmi(*cpu->vcpu)) cpu->vcpu->pending.set(vmm::pending::nmi);
    f->rip = vmm::reentry_resume_rip(f->rip, apex_reentry_window[0], apex_reentry_window[1]);
    return;
  }
  if (f->vector == 13) {
    for (const Fixup* x = apex_fault_fixups; x->insn; ++x) {
      if (f->rip == x->insn) {
        f->rip = x->resume;
        return;
      }
    }
  }
  // The addresses are the hypervisor's: on the UART at debug level, never in the ring a guest
  // reads (vmm/log/log.hpp).
  APEX_LOG_PRIVATE("host exception at rip 0x%llx rsp 0x%llx cr2 0x%llx", static_cast<unsigned long long>(f->rip),
                   static_cast<unsigned long long>(f->rsp), static_cast<unsigned long long>(arch::read_cr2()));
  APEX_LOG(fatal, "host exception %s (vector %llu) error 0x%llx: this CPU halts (addresses at log=debug)",
           kNames[f->vector & 31], static_cast<unsigned long long>(f->vector), static_cast<unsigned long long>(f->error));
  for (;;) {
    arch::cli();
    arch::cpu_halt();
  }
}
