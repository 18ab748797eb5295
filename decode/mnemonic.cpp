#include "decode/mnemonic.hpp"

namespace decode {

const char* mnemonic_name(Mnemonic m) {
  switch (m) {
    case Mnemonic::pushp: return "pushp";
    case Mnemonic::popp: return "popp";
    case Mnemonic::jmpabs: return "jmpabs";
    case Mnemonic::push2: return "push2";
    case Mnemonic::pop2: return "pop2";
    case Mnemonic::push2p: return "push2p";
    case Mnemonic::pop2p: return "pop2p";
    case Mnemonic::ccmp: return "ccmp";
    case Mnemonic::ctest: return "ctest";
    case Mnemonic::cfcmov: return "cfcmov";
    case Mnemonic::setzu: return "setzu";
    case Mnemonic::wbnoinvd: return "wbnoinvd";
    case Mnemonic::cmpccxadd: return "cmpccxadd";
    case Mnemonic::aadd: return "aadd";
    case Mnemonic::aand: return "aand";
    case Mnemonic::axor: return "axor";
    case Mnemonic::aor: return "aor";
    default: break;
  }
  if (is_zydis(m)) {
    const char* s = ZydisMnemonicGetString(static_cast<ZydisMnemonic>(m));
    if (s) return s;
  }
  return "(bad)";
}

}  // namespace decode
