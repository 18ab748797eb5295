// apexvisor.cfg: the configuration file read from the ESP the loader came from
// (\EFI\apexvisor\apexvisor.cfg). One `key=value` per line; `#` starts a comment; blanks
// around keys and values are ignored. A malformed line or value is reported with its line
// number and the default is kept: a bad file must never stop the machine from booting.
// Keys (README "Configuration"):
//   log=fatal|error|warn|info|debug   (default info)
//   serial=com1|com2|off|0x<port>     (default com1 = 0x3f8)
//   chainload=\path\to\next.efi       (default: next BootOrder entry)
//   cmdline=text                      (load options for the chainload target, e.g. a
//                                      Linux kernel command line; default none)
//   apx=auto|off                      (default auto)
//   dt_guard=on|off                   (default off; descriptor-table exiting guard)
//   init_sipi=auto|native|intercept   (default auto)
//   apic_virt=auto|off                (default auto: with init_sipi=intercept, trap guest
//                                      APIC writes with the CPU's APIC-register
//                                      virtualization where offered, else the EPT)
//   monitor=0x<gpa>[+0x<size>][,...]  (EPT write monitor ranges watched from boot; size
//                                      defaults to 0x1000; several lines add up, at most
//                                      kMonitorMax ranges; default none)
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "vmm/log/log.hpp"

namespace boot {

enum class ApxMode : uint8_t { auto_detect, off };
enum class InitSipiMode : uint8_t { auto_detect, native, intercept };
enum class ApicVirtMode : uint8_t { auto_detect, off };

// One `monitor=` range: guest-physical [gpa, gpa + size), size > 0 and no wrap.
struct MonitorRange {
  uint64_t gpa;
  uint64_t size;
};

struct Config {
  static constexpr size_t kPathMax = 256;
  vmm::LogLevel log_level = vmm::LogLevel::info;
  uint16_t serial_port = 0x3f8;  // 0 = no serial output
  char chainload[kPathMax] = {};  // empty = next BootOrder entry
  static constexpr size_t kCmdlineMax = 512;
  char cmdline[kCmdlineMax] = {};  // load options passed to the chainload target
  ApxMode apx = ApxMode::auto_detect;
  bool dt_guard = false;
  InitSipiMode init_sipi = InitSipiMode::auto_detect;
  ApicVirtMode apic_virt = ApicVirtMode::auto_detect;
  static constexpr size_t kMonitorMax = 16;  // vmm::monitor::kMaxRanges
  MonitorRange monitor[kMonitorMax] = {};
  size_t monitor_count = 0;
};

// Called once per problem: `line` is 1-based, `message` says what was wrong and what
// happens instead.
using ConfigReport = void (*)(void* ctx, unsigned line, const char* message);

// Parses `text` (not NUL-terminated, `len` bytes) into *cfg, which should hold the defaults.
// Returns the number of problems reported.
unsigned parse_config(const char* text, size_t len, Config* cfg, ConfigReport report, void* ctx);

// What the loader prints of the configuration at the default level: the settings that differ
// from the defaults, `key=value` separated by spaces (monitor ranges counted, not listed; the
// command line left to the chainload's own `load options:` line), and " (not shared with ConOut)" after serial= when the UART is
// not also the firmware's console (`serial_shared` false; serial= is then printed even at its
// default). Empty when nothing differs. Every byte at the default level costs boot time on a
// polled UART (bench/results.md), so the full configuration is printed at log=debug only.
// Always NUL-terminates; returns the length written.
size_t describe_config_changes(const Config& cfg, bool serial_shared, char* buf, size_t cap);

const char* apx_mode_name(ApxMode m);
const char* init_sipi_mode_name(InitSipiMode m);
const char* apic_virt_mode_name(ApicVirtMode m);

}  // namespace boot
