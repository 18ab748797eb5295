#include "tests/guest/guarded_insn.hpp"

#include "arch/cpu.hpp"

extern "C" uint8_t guest_probe_idt[32 * 16];
extern "C" arch::PseudoDescriptor guest_probe_idtr;
extern "C" uint64_t guest_exc_stubs[32];

namespace guest {
namespace {

// Fills the probe IDT with 64-bit interrupt gates on the current code segment.
bool g_ready = false;
void prepare() {
  if (g_ready) return;
  uint16_t cs;
  asm volatile("mov %%cs, %0" : "=r"(cs));
  for (unsigned v = 0; v < 32; ++v) {
    uint64_t h = guest_exc_stubs[v];
    uint8_t* g = guest_probe_idt + 16 * v;
    g[0] = h & 0xff;
    g[1] = (h >> 8) & 0xff;
    g[2] = cs & 0xff;
    g[3] = cs >> 8;
    g[4] = 0;
    g[5] = 0x8e;
    g[6] = (h >> 16) & 0xff;
    g[7] = (h >> 24) & 0xff;
    for (int i = 0; i < 4; ++i) g[8 + i] = (h >> (32 + 8 * i)) & 0xff;
    for (int i = 12; i < 16; ++i) g[i] = 0;
  }
  guest_probe_idtr.base = reinterpret_cast<uint64_t>(guest_probe_idt);
  g_ready = true;
}

}  // namespace

HypercallResult hypercall(uint64_t number, uint64_t rbx, uint64_t rcx, uint64_t rdx) {
  prepare();
  uint64_t a = number, b = rbx, c = rcx, d[3] = {rdx, 0, 0};
  HypercallResult r{};
  r.fault = guest_probe_vmcall(&a, &b, &c, d);
  r.rax = a;
  r.rbx = b;
  r.rcx = c;
  r.rdx = d[0];
  r.rsi = d[1];
  r.rdi = d[2];
  return r;
}

void probes_prepare() { prepare(); }

}  // namespace guest
