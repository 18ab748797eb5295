// boot/serial_mirror: is apexvisor's UART among the firmware's ConOut device paths?
#include <catch.hpp>

#include <cstdint>
#include <vector>

#include "boot/serial_mirror.hpp"

namespace {

using Path = std::vector<uint8_t>;

void append(Path& p, std::initializer_list<uint8_t> node) { p.insert(p.end(), node); }
void acpi(Path& p, uint32_t hid, uint32_t uid) {
  append(p, {0x02, 0x01, 12, 0});
  for (uint32_t v : {hid, uid})
    for (int i = 0; i < 4; ++i) p.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void pci_root(Path& p) { acpi(p, 0x0a0341d0, 0); }  // PciRoot(0x0): PNP0A03
void pci(Path& p, uint8_t dev) { append(p, {0x01, 0x01, 6, 0, 0, dev}); }
void uart(Path& p) { append(p, {0x03, 0x0e, 19, 0, 0, 0, 0, 0, 0x00, 0xc2, 0x01, 0, 0, 0, 0, 0, 8, 1, 1}); }
void vt100(Path& p) {
  append(p, {0x03, 0x0a, 20, 0, 0x65, 0x3a, 0xe6, 0xdf, 0xad, 0xbf, 0xd2, 0x11, 0x9a, 0x96, 0x00, 0xa0, 0xc9, 0x69,
             0x72, 0x3b});
}
void gop(Path& p) { pci_root(p), pci(p, 2), append(p, {0x02, 0x01, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0}); }
void end_instance(Path& p) { append(p, {0x7f, 0x01, 4, 0}); }
void end_all(Path& p) { append(p, {0x7f, 0xff, 4, 0}); }

// OVMF on Bochs/i440fx: PciRoot(0x0)/Pci(0x1,0x0)/Serial(UID)/Uart(115200,8,N,1)/VenVt100().
void serial_console(Path& p, uint32_t uid) {
  pci_root(p), pci(p, 1), acpi(p, 0x050141d0, uid), uart(p), vt100(p);
}

bool mirrors(const Path& p, uint16_t port) { return boot::console_mirrors_uart(p.data(), p.size(), port); }

}  // namespace

TEST_CASE("serial mirror: OVMF's ConOut (screen + COM1) reaches COM1, not COM2") {
  Path p;
  gop(p), end_instance(p), serial_console(p, 0), end_all(p);
  CHECK(mirrors(p, 0x3f8));
  CHECK_FALSE(mirrors(p, 0x2f8));
  CHECK_FALSE(mirrors(p, 0));
}

TEST_CASE("serial mirror: UIDs name the four ISA ports") {
  const uint16_t ports[] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
  for (uint32_t uid = 0; uid < 4; ++uid) {
    Path p;
    serial_console(p, uid), end_all(p);
    CAPTURE(uid);
    for (uint16_t port : ports) CHECK(mirrors(p, port) == (port == ports[uid]));
  }
  Path five;
  serial_console(five, 5), end_all(five);
  CHECK_FALSE(mirrors(five, 0x3f8));
}

TEST_CASE("serial mirror: a screen-only console, or a serial node without a UART, is not a mirror") {
  Path screen;
  gop(screen), end_all(screen);
  CHECK_FALSE(mirrors(screen, 0x3f8));
  Path no_uart;
  pci_root(no_uart), pci(no_uart, 1), acpi(no_uart, 0x050141d0, 0), vt100(no_uart), end_all(no_uart);
  CHECK_FALSE(mirrors(no_uart, 0x3f8));
  // The serial node in one instance, a UART in the next: not one path.
  Path split;
  pci_root(split), acpi(split, 0x050141d0, 0), end_instance(split), pci_root(split), uart(split), end_all(split);
  CHECK_FALSE(mirrors(split, 0x3f8));
  // Another ACPI device (not PNP0501) before the UART.
  Path other;
  pci_root(other), acpi(other, 0x030341d0, 0), uart(other), end_all(other);
  CHECK_FALSE(mirrors(other, 0x3f8));
}

TEST_CASE("serial mirror: malformed variables answer false, never read past the end") {
  Path good;
  serial_console(good, 0), end_all(good);
  REQUIRE(mirrors(good, 0x3f8));
  for (size_t cut = 0; cut + 1 < good.size() - 4; ++cut) {
    CAPTURE(cut);
    Path truncated(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    // The UART node is complete from byte 42 on; a cut before it cannot be a mirror.
    if (cut < 12 + 6 + 12 + 19) CHECK_FALSE(mirrors(truncated, 0x3f8));
  }
  Path zero_length = good;
  zero_length[2] = 0, zero_length[3] = 0;
  CHECK_FALSE(mirrors(zero_length, 0x3f8));
  Path too_long = good;
  too_long[2] = 0xff, too_long[3] = 0xff;
  CHECK_FALSE(mirrors(too_long, 0x3f8));
  CHECK_FALSE(boot::console_mirrors_uart(nullptr, 0, 0x3f8));
}
