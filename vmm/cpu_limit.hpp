// How many CPUs apexvisor virtualizes: the one bound for every per-CPU table, in the loader
// and in the host (vCPU registry, APIC topology, launch records).
//
// Why 1024: the machines APX ships in reach several hundred logical CPUs (two sockets of
// 128-288 threads each; eight-socket parts with 960), and the tables that depend on it stay
// small (the largest, the APIC topology, is 6 KiB; the launch records are allocated per CPU
// present, not per CPU possible). A machine with more CPUs is not virtualized at all, with
// the reason in the log: a CPU left outside would run the OS with no EPT, able to reach
// hypervisor memory (boot/cpu_limit_check.hpp).
#pragma once

namespace vmm {

inline constexpr unsigned kMaxCpus = 1024;

}  // namespace vmm
