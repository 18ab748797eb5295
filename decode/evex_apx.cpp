#include "decode/evex_apx.hpp"

namespace decode {

bool decode_evex_apx(const uint8_t*, size_t, const Options&, const PrefixScan&, Instruction&) { return false; }

}  // namespace decode
