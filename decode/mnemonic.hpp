// Instruction mnemonics: Zydis's enum for everything Zydis 4.0.0 knows, plus apexvisor's own
// values for the APX instructions it does not (PUSHP/POPP/JMPABS and the EVEX map-4 forms).
//
//   switch (insn.mnemonic) {
//     case zy(ZYDIS_MNEMONIC_MOV): ...
//     case Mnemonic::pushp: ...
//   }
#pragma once
#include <stdint.h>

#include <Zydis/Mnemonic.h>

namespace decode {

enum class Mnemonic : uint16_t {
  invalid = 0,  // == ZYDIS_MNEMONIC_INVALID
  // Values 1..ZYDIS_MNEMONIC_MAX_VALUE are ZydisMnemonic; build them with zy().
  own_base = 0x1000,
  pushp = own_base,  // D5 (W=1) 50+r: PUSH with the PPX hint (spec §1.4)
  popp,              // D5 (W=1) 58+r: POP with the PPX hint (spec §1.4)
  jmpabs,            // D5 00 A1 imm64 (spec §1.4)
  push2,             // EVEX map 4 FF /6 (spec §1.4)
  pop2,              // EVEX map 4 8F /0
  push2p,            // PUSH2 with EVEX.W=1 (PPX)
  pop2p,             // POP2 with EVEX.W=1 (PPX)
  ccmp,              // EVEX map 4 conditional compare (condition in EVEX.SCC)
  ctest,             // EVEX map 4 conditional test
  cfcmov,            // EVEX map 4 conditional faulting move
  setzu,             // EVEX map 4 SETcc with ZU (zero upper)
  wbnoinvd,          // F3 0F 09 (not in Zydis 4.0.0)
  cmpccxadd,         // VEX/EVEX map 2 E0-EF (not in Zydis 4.0.0); condition = opcode & 15
  aadd,              // RAO-INT (0F 38 FC / EVEX map 4 FC; not in Zydis 4.0.0)
  aand,
  axor,
  aor,
  own_end,
};

static_assert(static_cast<unsigned>(ZYDIS_MNEMONIC_MAX_VALUE) < static_cast<unsigned>(Mnemonic::own_base),
              "own mnemonics must not collide with Zydis's");

constexpr Mnemonic zy(ZydisMnemonic m) { return static_cast<Mnemonic>(m); }
constexpr bool is_zydis(Mnemonic m) {
  return static_cast<unsigned>(m) <= static_cast<unsigned>(ZYDIS_MNEMONIC_MAX_VALUE);
}

// Zydis's lowercase name, or ours ("pushp", "jmpabs", ...). Never null.
const char* mnemonic_name(Mnemonic m);

}  // namespace decode
