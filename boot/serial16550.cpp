#include "boot/serial16550.hpp"

#include "arch/cpu.hpp"

namespace boot {
namespace {
// 16550 register offsets (PC16550D data sheet).
constexpr uint16_t kData = 0, kIer = 1, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5;
constexpr uint8_t kLsrTxEmpty = 1u << 5;   // THRE: room for the next byte
constexpr uint8_t kLsrTxIdle = 1u << 6;    // TEMT: every byte sent, the shifter included
constexpr uint8_t kLcrDlab = 0x80, kLcr8N1 = 0x03;
}  // namespace

void Serial16550::init(uint16_t port) {
  port_ = port;
  if (!port_) return;
  // Bytes the firmware (or an earlier init) queued are sent first: reprogramming the divisor
  // and clearing the FIFOs would drop them. Bounded, as in put().
  for (unsigned spin = 0; spin < 100000 && !(arch::inb(port_ + kLsr) & kLsrTxIdle); ++spin) arch::cpu_pause();
  arch::outb(port_ + kIer, 0x00);  // polled: no interrupts
  arch::outb(port_ + kLcr, kLcrDlab);
  arch::outb(port_ + kData, 0x01);  // divisor 1 = 115200 baud
  arch::outb(port_ + kIer, 0x00);
  arch::outb(port_ + kLcr, kLcr8N1);
  arch::outb(port_ + kFcr, 0xc7);  // enable + clear FIFOs, 14-byte threshold
  arch::outb(port_ + kMcr, 0x03);  // DTR + RTS
}

void Serial16550::put(char c) {
  // Bounded wait: a missing UART reads 0xff (always "empty"); a stuck one must not hang us.
  for (unsigned spin = 0; spin < 100000 && !(arch::inb(port_ + kLsr) & kLsrTxEmpty); ++spin) arch::cpu_pause();
  arch::outb(port_ + kData, static_cast<uint8_t>(c));
}

void Serial16550::write(const char* s, size_t n) {
  if (!port_) return;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == '\n') put('\r');
    put(s[i]);
  }
}

}  // namespace boot
