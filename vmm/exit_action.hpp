// What an exit handler asks the dispatcher to do (design.md "The path of one boot", step 4).
#pragma once
#include <stdint.h>

namespace vmm {

// An event to inject on the next VM entry (SDM Vol 3C 25.8.3 "VM-Entry Controls for Event
// Injection").
enum class EventType : uint8_t {
  external_interrupt = 0,
  nmi = 2,
  hardware_exception = 3,
  software_interrupt = 4,
  privileged_software_exception = 5,
  software_exception = 6,
  other = 7,
};

struct Event {
  uint8_t vector;
  EventType type;
  bool has_error_code;
  uint32_t error_code;
};

namespace vector {
inline constexpr uint8_t DE = 0, DB = 1, NMI = 2, BP = 3, UD = 6, DF = 8, TS = 10, NP = 11, SS = 12, GP = 13,
                         PF = 14, MC = 18;
}

struct ExitAction {
  enum class Kind : uint8_t {
    resume,       // re-enter the guest as it is
    advance_rip,  // the instruction was emulated: skip it, then re-enter
    inject,       // deliver `event` without advancing RIP (faults happen before the instruction)
    stop,         // stop this guest CPU with a full dump; `reason` says why
  };
  Kind kind;
  // `event` is meaningful for inject only, `reason` for stop only (null for resume and
  // advance). One union keeps ExitAction at 16 bytes, which the x86-64 ABI returns in two
  // registers: every handler returns one on every VM exit.
  union {
    Event event;
    const char* reason;
  };

  static constexpr ExitAction resume() { return {Kind::resume, {.reason = nullptr}}; }
  static constexpr ExitAction advance() { return {Kind::advance_rip, {.reason = nullptr}}; }
  static constexpr ExitAction inject(Event e) { return {Kind::inject, {.event = e}}; }
  static constexpr ExitAction gp0() { return inject({vector::GP, EventType::hardware_exception, true, 0}); }
  static constexpr ExitAction ud() { return inject({vector::UD, EventType::hardware_exception, false, 0}); }
  static constexpr ExitAction stop(const char* why) { return {Kind::stop, {.reason = why}}; }
};
static_assert(sizeof(ExitAction) == 16, "ExitAction is returned in RAX:RDX (SysV x86-64 ABI)");

}  // namespace vmm
