// Whether the firmware's console already reaches apexvisor's UART. OVMF, and firmware with
// console redirection, list a 16550 UART among the ConOut variable's device paths (UEFI spec
// 3.3): every line the loader prints through ConOut then goes out on that UART as well, and
// writing it there a second time only doubles the polled-UART time, which dominated the
// loader's boot cost (bench/results.md). Pure, host-tested.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace boot {

// `paths`/`size`: the ConOut variable (device path instances, each ended by an end node).
// True when one instance holds an ACPI serial-port node (HID PNP0501) whose UID names the
// standard ISA port `port` (UID 0 COM1 0x3f8, 1 COM2 0x2f8, 2 COM3 0x3e8, 3 COM4 0x2e8)
// followed by a UART node. Malformed paths (a node shorter than its header, or running past
// `size`) answer false.
bool console_mirrors_uart(const uint8_t* paths, size_t size, uint16_t port);

}  // namespace boot
