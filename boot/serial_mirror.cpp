#include "boot/serial_mirror.hpp"

#include "arch/little_endian.hpp"

namespace boot {
namespace {

// UEFI spec 10.3: every node starts with type, subtype and a 16-bit length.
constexpr uint8_t kTypeAcpi = 0x02, kSubAcpi = 0x01;         // ACPI_DP: HID, UID
constexpr uint8_t kTypeMessaging = 0x03, kSubUart = 0x0e;    // UART_DP
constexpr uint8_t kTypeEnd = 0x7f, kSubEndInstance = 0x01;   // 0xff ends the whole path
constexpr uint32_t kPnp0501 = 0x050141d0;                    // EISA_PNP_ID(0x0501): 16550 COM port
constexpr uint16_t kIsaPorts[] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};

uint32_t le32(const uint8_t* p) { return static_cast<uint32_t>(arch::load_le(p, 4)); }

}  // namespace

bool console_mirrors_uart(const uint8_t* paths, size_t size, uint16_t port) {
  bool serial_port_seen = false;  // in the current instance
  for (size_t at = 0; at + 4 <= size;) {
    const uint8_t type = paths[at], sub = paths[at + 1];
    const size_t len = static_cast<size_t>(paths[at + 2]) | static_cast<size_t>(paths[at + 3]) << 8;
    if (len < 4 || at + len > size) return false;
    if (type == kTypeAcpi && sub == kSubAcpi && len >= 12 && le32(paths + at + 4) == kPnp0501) {
      const uint32_t uid = le32(paths + at + 8);
      serial_port_seen = uid < sizeof kIsaPorts / sizeof kIsaPorts[0] && kIsaPorts[uid] == port;
    } else if (type == kTypeMessaging && sub == kSubUart && serial_port_seen) {
      return true;
    } else if (type == kTypeEnd) {
      if (sub != kSubEndInstance) return false;
      serial_port_seen = false;
    }
    at += len;
  }
  return false;
}

}  // namespace boot
