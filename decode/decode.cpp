// Top-level dispatch: legacy prefixes, then REX2 (spec §1), EVEX (spec §2) or plain Zydis.
#include "decode/decode.hpp"

#include "decode/evex_apx.hpp"
#include "decode/prefix_scan.hpp"
#include "decode/reject.hpp"
#include "decode/rex2.hpp"
#include "decode/zydis_bridge.hpp"

namespace decode {
namespace {

// Everything without REX2 or APX-EVEX: Zydis decodes the original bytes.
void decode_plain(const uint8_t* bytes, size_t available, const Options& o, const PrefixScan& scan,
                  Instruction& out) {
  out.prefixes = scan.prefixes;
  ZydisOutput z;
  const size_t n = available < 2 * kMaxInstructionLength ? available : 2 * kMaxInstructionLength;
  const ZyanStatus st = zydis_decode(bytes, n, o.mode, o.real_mode, z);
  if (!ZYAN_SUCCESS(st)) {
    return reject(out, reason_from_zydis(st), n < kMaxInstructionLength ? n : kMaxInstructionLength);
  }
  convert_from_zydis(z, out);
  out.fault = Fault::none;
  out.reason = Reason::ok;
  out.length = z.insn.length;
}

}  // namespace

void decode_into(const uint8_t* bytes, size_t available, const Options& o, Instruction& out) {
  out = Instruction{};
  out.mode = o.mode;
  if (bytes == nullptr || available == 0) return reject(out, Reason::truncated, 0);
  const PrefixScan scan = scan_prefixes(bytes, available, o.mode);
  if (scan.end >= available) {
    return reject(out, scan.end >= kMaxInstructionLength ? Reason::too_long : Reason::truncated, scan.end);
  }
  if (scan.end >= kMaxInstructionLength) return reject(out, Reason::too_long, scan.end);
  const uint8_t first = bytes[scan.end];
  if (o.mode == CpuMode::bits64 && first == 0xD5) {
    // REX2 exists only in 64-bit mode; elsewhere D5 is AAD and Zydis decodes it (spec §1.1).
    out.prefixes = scan.prefixes;
    out.encoding = Encoding::rex2;
    if (!o.apx) return reject(out, Reason::rex2_apx_disabled, scan.end + 1);
    if (scan.rex_right_before) return reject(out, Reason::rex_before_rex2, scan.end + 1);
    return decode_rex2(bytes, available, scan, out);
  }
  if (first == 0x62 && decode_evex_apx(bytes, available, o, scan, out)) return;
  decode_plain(bytes, available, o, scan, out);
}

Instruction decode(const uint8_t* bytes, size_t available, const Options& options) {
  Instruction out;
  decode_into(bytes, available, options, out);
  return out;
}

Instruction decode(const uint8_t* bytes, size_t available, CpuMode mode, bool apx_enabled) {
  Options o;
  o.mode = mode;
  o.apx = apx_enabled;
  return decode(bytes, available, o);
}

}  // namespace decode
