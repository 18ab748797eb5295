// Log sinks of the loader: ConOut (BSP only, before ExitBootServices) and the 16550 UART.
#pragma once
#include <stdint.h>

namespace boot {

// Starts logging to COM-port `serial_port` (0 = none) and to ConOut. Safe to call again to
// change the port after the configuration is read. Lines ConOut prints are not written to
// the UART again when the firmware's ConOut already reaches it (serial_mirror.hpp).
// `program_uart` false: the UART is someone else's already (the hypervisor's), leave it be.
void console_init(uint16_t serial_port, bool program_uart = true);
// Whether the UART at `port` is the console's and the firmware's ConOut reaches it too, so
// lines printed through ConOut are written to it once (for the configuration log line).
bool console_serial_shared(uint16_t port);
// For the guest side of the loader on a CPU apexvisor runs (boot/loader_handoff.hpp): lines
// go to the UART through the hypervisor (hypercall log_line), so that they never interleave
// with the hypervisor's own lines there, and the guest never reprograms the UART the
// hypervisor writes to. ConOut gets them only where it does not reach that UART: where the
// firmware mirrors ConOut to it (OVMF), the screen would mean a second, unserialized copy on
// the UART, so these few lines (summary, chainload) appear on the UART only. Call after
// console_init(port, false).
void console_route_through_hypervisor();
// Stops using ConOut (before handing the machine to the next stage).
void console_detach_firmware();
// Records which CPU is the BSP and the APIC id of every CPU so log lines name their CPU.
void console_set_cpus(const uint32_t* apic_ids, unsigned count);
unsigned current_cpu_index();

}  // namespace boot
