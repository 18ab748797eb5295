// Polled output to a 16550 UART (COM1 = 0x3f8). Initialised by apexvisor itself so the log
// works whatever the firmware did, and usable from VMX root where no firmware may be called.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace boot {

class Serial16550 {
 public:
  void init(uint16_t port);  // 115200 8N1, FIFOs on; port 0 disables output
  void write(const char* s, size_t n);
  uint16_t port() const { return port_; }

 private:
  void put(char c);
  uint16_t port_ = 0;
};

}  // namespace boot
