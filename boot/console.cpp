#include "boot/console.hpp"

#include "arch/apic_id.hpp"
#include "boot/firmware.hpp"
#include "boot/serial16550.hpp"
#include "boot/serial_mirror.hpp"
#include "vmm/host/root_state.hpp"
#include "vmm/cpu_limit.hpp"
#include "vmm/hypercall.hpp"
#include "vmm/log/log.hpp"

namespace boot {
namespace {

Serial16550 g_serial;
bool g_conout_enabled = true;
bool g_conout_reaches_serial = false;  // the firmware's ConOut also writes to our UART
uint16_t g_serial_port = 0;
uint32_t g_bsp_apic_id = 0;
bool g_x2apic_id_leaf = false;  // CPUID leaf 0xB gives the full APIC id (arch/apic_id.hpp)
uint32_t g_apic_ids[vmm::kMaxCpus];
unsigned g_cpu_count = 0;

uint32_t current_apic_id() { return arch::this_cpu_apic_id(g_x2apic_id_leaf); }

// A linear search on every line: a log line costs far more than 1024 compares.
// Before the inventory only the BSP runs: 0. An id the inventory lacks (a firmware whose
// processor ids differ from CPUID's) gets a number of its own past kMaxCpus, never another
// CPU's: the log's lock tells CPUs apart by it.
unsigned cpu_index_of(uint32_t apic_id) {
  for (unsigned i = 0; i < g_cpu_count; ++i)
    if (g_apic_ids[i] == apic_id) return i;
  return g_cpu_count ? vmm::kMaxCpus + apic_id % vmm::kMaxCpus : 0;
}

// Only the BSP may call boot services, and the host (VMX root) never calls the firmware.
// One CPUID (the APIC id) answers both questions; each sink asks for every line.
bool conout_usable() {
  if (!g_conout_enabled) return false;
  const uint32_t id = current_apic_id();
  return id == g_bsp_apic_id && !vmm::in_root(cpu_index_of(id));
}

// A line ConOut prints reaches the UART through the firmware already (serial_mirror.hpp):
// written once, not twice.
void serial_sink(void*, const char* text, size_t len) {
  if (g_conout_reaches_serial && conout_usable()) return;
  g_serial.write(text, len);
}

// ConOut wants UCS-2 with CRLF.
void conout_sink(void*, const char* text, size_t len) {
  if (!conout_usable()) return;
  auto* out = firmware().st->ConOut;
  CHAR16 buf[80];
  size_t n = 0;
  auto flush = [&] {
    buf[n] = 0;
    out->OutputString(out, buf);
    n = 0;
  };
  for (size_t i = 0; i < len; ++i) {
    if (text[i] == '\n') buf[n++] = u'\r';
    buf[n++] = static_cast<CHAR16>(static_cast<unsigned char>(text[i]));
    if (n >= 77) flush();
  }
  if (n) flush();
}

}  // namespace

void console_init(uint16_t serial_port, bool program_uart) {
  g_x2apic_id_leaf = arch::this_machine_has_x2apic_id_leaf();
  g_bsp_apic_id = current_apic_id();
  if (program_uart) g_serial.init(serial_port);
  auto& log = vmm::global_log();
  log.remove_all_sinks();
  // Both: the screen is what a user booting from USB sees, the UART is what CI reads. Where
  // the firmware mirrors ConOut to the same UART (OVMF does), lines printed through ConOut
  // are not written to the UART again.
  g_conout_reaches_serial = false;
  g_serial_port = serial_port;
  size_t size = 0;
  static EFI_GUID global_variable = EFI_GLOBAL_VARIABLE;
  if (serial_port)
    if (auto* paths = static_cast<uint8_t*>(read_variable(u"ConOut", &global_variable, &size))) {
      g_conout_reaches_serial = console_mirrors_uart(paths, size, serial_port);
      free_pool(paths);
    }
  if (serial_port) log.add_sink({serial_sink, nullptr});
  log.add_sink({conout_sink, nullptr});
  log.set_cpu_resolver(current_cpu_index);
}

// One line to the hypervisor, 24 bytes per VMCALL (vmm/hypercall.hpp, log_line).
void hypervisor_sink(void*, const char* text, size_t len) {
  for (size_t at = 0; at < len || at == 0; at += 24) {
    uint64_t words[3] = {0, 0, 0};
    for (size_t i = 0; i < 24 && at + i < len; ++i)
      words[i / 8] |= static_cast<uint64_t>(static_cast<uint8_t>(text[at + i])) << (8 * (i % 8));
    uint64_t rax = static_cast<uint64_t>(vmm::Hypercall::log_line), last = at + 24 >= len ? 1 : 0;
    asm volatile("vmcall" : "+a"(rax) : "b"(words[0]), "c"(words[1]), "d"(words[2]), "S"(last) : "memory");
    if (rax != 0) return;  // suppressed: the hypervisor said so once
  }
}

void console_route_through_hypervisor() {
  auto& log = vmm::global_log();
  log.remove_all_sinks();
  if (g_serial_port) log.add_sink({hypervisor_sink, nullptr});
  if (!g_conout_reaches_serial) log.add_sink({conout_sink, nullptr});
}

void console_detach_firmware() { g_conout_enabled = false; }

bool console_serial_shared(uint16_t port) { return g_conout_reaches_serial && port == g_serial_port; }

void console_set_cpus(const uint32_t* apic_ids, unsigned count) {
  g_cpu_count = count > vmm::kMaxCpus ? vmm::kMaxCpus : count;
  for (unsigned i = 0; i < g_cpu_count; ++i) g_apic_ids[i] = apic_ids[i];
}

unsigned current_cpu_index() { return cpu_index_of(current_apic_id()); }

}  // namespace boot
