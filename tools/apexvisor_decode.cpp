// apexvisor-decode: decode x86 instructions with apexvisor's decoder (decode/) and print one
// JSON object per instruction. Host tool; the decoder itself is the freestanding one.
//
//   apexvisor-decode d5 48 89 47 08          # bytes as arguments: one instruction
//   apexvisor-decode d548894708
//   printf 'd5 18 50\n62f444 18 ff f0\n' | apexvisor-decode   # one instruction per line
//   apexvisor-decode --mode 32 d5 0a         # AAD outside 64-bit mode
//   apexvisor-decode --no-apx d5 10 50       # REX2 with XCR0.APX=0 -> #UD
#include <cctype>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "arch/gpr.hpp"
#include "decode/decode.hpp"
#include "decode/format.hpp"

namespace {

const char kUsage[] =
    "usage: apexvisor-decode [--mode 16|32|64] [--real-mode] [--no-apx] [HEX...]\n"
    "\n"
    "Decodes one x86 instruction per input and prints one JSON object per line.\n"
    "  HEX...        the bytes of one instruction, as separate bytes (d5 48 89 47 08) or\n"
    "                one string (d548894708); 0x prefixes and commas are accepted\n"
    "  (no HEX)      read standard input: one instruction per line; empty lines and lines\n"
    "                starting with '#' are skipped\n"
    "  --mode N      code size: 16, 32 or 64 (default 64)\n"
    "  --real-mode   with --mode 16: real-mode rules (C4/C5 are LES/LDS, no EVEX)\n"
    "  --no-apx      guest XCR0.APX=0: REX2 and EVEX EGPR forms raise #UD\n"
    "  --hidden      also list hidden operands (RFLAGS, the RSP of PUSH, ...)\n"
    "  --help        this text\n"
    "\n"
    "Output fields: input, valid, length, mnemonic, text, emulatable, encoding, operands,\n"
    "prefixes, rex2 (REX2 payload fields), evex (EVEX-APX fields); when invalid: fault\n"
    "(ud, gp or truncated), reason (rule id), rule (short name), message.\n"
    "Exit status: 0 when every input was processed, 1 for unreadable hex, 2 for usage errors.\n";

bool parse_hex(const std::string& text, std::vector<uint8_t>& out, std::string& error) {
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
      if (digits.size() % 2) {
        error = "odd number of hex digits before 0x";
        return false;
      }
      ++i;
      continue;
    }
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '[' || c == ']') {
      if (digits.size() % 2) digits.insert(digits.size() - 1, "0");  // "f 0" style single digits
    } else {
      error = std::string("not a hex digit: '") + c + "'";
      return false;
    }
  }
  if (digits.size() % 2) {
    error = "odd number of hex digits";
    return false;
  }
  for (size_t i = 0; i < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  if (out.empty()) {
    error = "no bytes";
    return false;
  }
  return true;
}

std::string json_string(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\t': r += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          r += b;
        } else {
          r += c;
        }
    }
  }
  return r + "\"";
}

std::string hex_string(const std::vector<uint8_t>& bytes) {
  std::string r;
  char b[4];
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::snprintf(b, sizeof b, i ? " %02x" : "%02x", bytes[i]);
    r += b;
  }
  return r;
}

std::string reg_name(const decode::Reg& r) {
  char buf[32];
  decode::format_register(r, buf, sizeof buf);
  return buf;
}

const char* class_name(decode::RegClass c) {
  using decode::RegClass;
  switch (c) {
    case RegClass::none: return "none";
    case RegClass::gpr: return "gpr";
    case RegClass::seg: return "seg";
    case RegClass::cr: return "cr";
    case RegClass::dr: return "dr";
    case RegClass::x87: return "x87";
    case RegClass::mmx: return "mmx";
    case RegClass::xmm: return "xmm";
    case RegClass::ymm: return "ymm";
    case RegClass::zmm: return "zmm";
    case RegClass::tmm: return "tmm";
    case RegClass::mask: return "mask";
    case RegClass::bnd: return "bnd";
    case RegClass::ip: return "ip";
    case RegClass::flags: return "flags";
    case RegClass::other: return "other";
  }
  return "?";
}

std::string reg_json(const decode::Reg& r) {
  if (!r.present()) return "null";
  std::string s = "{\"name\":" + json_string(reg_name(r)) + ",\"class\":\"" + class_name(r.cls) +
                  "\",\"num\":" + std::to_string(r.num) + ",\"size\":" + std::to_string(r.bits);
  if (r.high8) s += ",\"high8\":true";
  return s + "}";
}

const char* encoding_name(decode::Encoding e) {
  using decode::Encoding;
  switch (e) {
    case Encoding::legacy: return "legacy";
    case Encoding::rex2: return "rex2";
    case Encoding::vex: return "vex";
    case Encoding::evex: return "evex";
    case Encoding::xop: return "xop";
    case Encoding::amd3dnow: return "3dnow";
    case Encoding::mvex: return "mvex";
  }
  return "?";
}

const char* field_name(decode::Field f) {
  using decode::Field;
  switch (f) {
    case Field::none: return "implicit";
    case Field::modrm_reg: return "modrm.reg";
    case Field::modrm_rm: return "modrm.rm";
    case Field::opcode_reg: return "opcode";
    case Field::vvvv: return "vvvv";
    case Field::is4: return "is4";
    case Field::mask: return "mask";
    case Field::imm: return "imm";
    case Field::disp: return "disp";
  }
  return "?";
}

std::string access_name(uint8_t a) {
  std::string s;
  if (a & decode::access_read) s += 'r';
  if (a & decode::access_cond_read) s += "(r)";
  if (a & decode::access_write) s += 'w';
  if (a & decode::access_cond_write) s += "(w)";
  return s;
}

std::string operand_json(const decode::Instruction& insn, const decode::Operand& op) {
  using decode::OperandKind;
  char text[160];
  decode::format_operand(insn, op, text, sizeof text);
  std::string s = "{\"kind\":";
  switch (op.kind) {
    case OperandKind::reg: s += "\"reg\""; break;
    case OperandKind::mem: s += "\"mem\""; break;
    case OperandKind::imm: s += "\"imm\""; break;
    case OperandKind::rel: s += "\"rel\""; break;
    case OperandKind::abs: s += "\"abs\""; break;
    case OperandKind::far_ptr: s += "\"far_ptr\""; break;
    case OperandKind::none: s += "\"none\""; break;
  }
  s += ",\"text\":" + json_string(text);
  s += ",\"visibility\":\"";
  s += op.visibility == decode::Visibility::explicit_ ? "explicit"
       : op.visibility == decode::Visibility::implicit ? "implicit"
                                                       : "hidden";
  s += "\",\"field\":\"";
  s += field_name(op.field);
  s += "\",\"access\":\"" + access_name(op.access) + "\",\"size\":" + std::to_string(op.bits);
  switch (op.kind) {
    case OperandKind::reg:
      s += ",\"reg\":" + reg_json(op.reg);
      break;
    case OperandKind::mem: {
      const decode::Mem& m = op.mem;
      s += ",\"segment\":" + json_string(reg_name(m.segment));
      s += ",\"segment_override\":";
      s += m.segment_override ? "true" : "false";
      s += ",\"base\":" + reg_json(m.base) + ",\"index\":" + reg_json(m.index);
      s += ",\"scale\":" + std::to_string(m.scale) + ",\"disp\":" + std::to_string(m.disp);
      s += ",\"disp_bytes\":" + std::to_string(m.disp_bytes);
      s += ",\"address_size\":" + std::to_string(m.addr_bits);
      s += ",\"rip_relative\":";
      s += m.rip_relative() ? "true" : "false";
      s += ",\"sib\":";
      s += m.sib ? "true" : "false";
      s += ",\"type\":\"";
      s += m.kind == decode::MemKind::agen  ? "agen"
           : m.kind == decode::MemKind::mib ? "mib"
           : m.kind == decode::MemKind::vsib ? "vsib"
                                             : "data";
      s += "\"";
      if (m.broadcast) s += ",\"broadcast\":" + std::to_string(m.broadcast);
      break;
    }
    case OperandKind::imm:
    case OperandKind::rel:
    case OperandKind::abs:
      s += ",\"value\":" + std::to_string(op.imm.value);
      s += ",\"signed_value\":" + std::to_string(static_cast<int64_t>(op.imm.value));
      s += ",\"bytes\":" + std::to_string(op.imm.bytes);
      s += ",\"sign_extended\":";
      s += op.imm.is_signed ? "true" : "false";
      break;
    case OperandKind::far_ptr:
      s += ",\"selector\":" + std::to_string(op.far_selector) + ",\"offset\":" + std::to_string(op.imm.value);
      break;
    case OperandKind::none:
      break;
  }
  return s + "}";
}

bool g_hidden = false;

std::string decode_json(const std::vector<uint8_t>& bytes, const decode::Options& opt) {
  const decode::Instruction insn = decode::decode(bytes.data(), bytes.size(), opt);
  std::string s = "{\"input\":" + json_string(hex_string(bytes));
  s += ",\"mode\":" + std::to_string(static_cast<int>(opt.mode));
  s += ",\"apx\":";
  s += opt.apx ? "true" : "false";
  if (!insn.ok()) {
    s += ",\"valid\":false,\"fault\":\"";
    s += decode::fault_name(insn.fault);
    s += "\",\"reason\":\"";
    s += decode::reason_id(insn.reason);
    s += "\",\"rule\":" + json_string(decode::reason_tag(insn.reason));
    s += ",\"message\":" + json_string(decode::reason_text(insn.reason));
    if (insn.rex2.present) {
      char b[8];
      std::snprintf(b, sizeof b, "0x%02x", insn.rex2.payload);
      s += ",\"rex2\":{\"payload\":\"" + std::string(b) + "\"}";
    }
    return s + "}";
  }
  char text[256];
  char mnem[64];
  decode::format_intel(insn, text, sizeof text);
  decode::format_mnemonic(insn, mnem, sizeof mnem);
  s += ",\"valid\":true,\"length\":" + std::to_string(insn.length);
  s += ",\"mnemonic\":" + json_string(mnem);
  s += ",\"text\":" + json_string(text);
  s += ",\"emulatable\":";
  s += insn.emulatable() ? "true" : "false";
  if (!insn.emulatable()) s += ",\"note\":" + json_string(decode::reason_text(insn.reason));
  s += ",\"encoding\":\"";
  s += encoding_name(insn.encoding);
  s += "\",\"map\":" + std::to_string(insn.map) + ",\"opcode\":" + std::to_string(insn.opcode);
  s += ",\"operand_size\":" + std::to_string(insn.operand_bits);
  s += ",\"address_size\":" + std::to_string(insn.address_bits);
  const decode::Prefixes& p = insn.prefixes;
  s += ",\"prefixes\":{\"lock\":";
  s += p.lock ? "true" : "false";
  s += ",\"rep\":";
  s += p.rep ? "true" : "false";
  s += ",\"repne\":";
  s += p.repne ? "true" : "false";
  s += ",\"operand_size\":";
  s += p.opsize ? "true" : "false";
  s += ",\"address_size\":";
  s += p.addrsize ? "true" : "false";
  s += ",\"segment\":" + std::to_string(p.segment) + ",\"rex\":" + std::to_string(p.rex) + "}";
  if (insn.rex2.present) {
    const decode::Rex2& x = insn.rex2;
    char b[8];
    std::snprintf(b, sizeof b, "0x%02x", x.payload);
    s += ",\"rex2\":{\"payload\":\"" + std::string(b) + "\",\"m0\":" + std::to_string(x.m0) +
         ",\"r4\":" + std::to_string(x.r4) + ",\"x4\":" + std::to_string(x.x4) + ",\"b4\":" + std::to_string(x.b4) +
         ",\"w\":" + std::to_string(x.w) + ",\"r3\":" + std::to_string(x.r3) + ",\"x3\":" + std::to_string(x.x3) +
         ",\"b3\":" + std::to_string(x.b3) + "}";
  }
  if (insn.evex.present && insn.evex.apx) {
    const decode::Evex& e = insn.evex;
    s += ",\"evex\":{\"map\":" + std::to_string(e.map) + ",\"r4\":" + std::to_string(e.r4) +
         ",\"x4\":" + std::to_string(e.x4) + ",\"b4\":" + std::to_string(e.b4) + ",\"vvvv\":" + std::to_string(e.vvvv) +
         ",\"w\":" + std::to_string(e.w) + ",\"pp\":" + std::to_string(e.pp) + ",\"nd\":" + std::to_string(e.nd) +
         ",\"nf\":" + std::to_string(e.nf) + "}";
  }
  s += ",\"operands\":[";
  bool first = true;
  for (unsigned i = 0; i < insn.operand_count; ++i) {
    if (!g_hidden && insn.operands[i].visibility == decode::Visibility::hidden) continue;
    if (!first) s += ",";
    first = false;
    s += operand_json(insn, insn.operands[i]);
  }
  return s + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  decode::Options opt;
  std::string hex;
  bool have_args = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--no-apx") {
      opt.apx = false;
    } else if (a == "--hidden") {
      g_hidden = true;
    } else if (a == "--real-mode") {
      opt.real_mode = true;
    } else if (a == "--mode" || a.rfind("--mode=", 0) == 0) {
      std::string v;
      if (a == "--mode") {
        if (i + 1 >= argc) {
          std::cerr << "apexvisor-decode: --mode needs 16, 32 or 64\n" << kUsage;
          return 2;
        }
        v = argv[++i];
      } else {
        v = a.substr(7);
      }
      if (v == "16") opt.mode = decode::CpuMode::bits16;
      else if (v == "32") opt.mode = decode::CpuMode::bits32;
      else if (v == "64") opt.mode = decode::CpuMode::bits64;
      else {
        std::cerr << "apexvisor-decode: bad --mode '" << v << "' (16, 32 or 64)\n";
        return 2;
      }
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      std::cerr << "apexvisor-decode: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      hex += a + " ";
      have_args = true;
    }
  }
  if (opt.real_mode && opt.mode != decode::CpuMode::bits16) {
    std::cerr << "apexvisor-decode: --real-mode needs --mode 16\n";
    return 2;
  }

  int status = 0;
  auto run = [&](const std::string& line) {
    std::vector<uint8_t> bytes;
    std::string error;
    if (!parse_hex(line, bytes, error)) {
      std::cout << "{\"input\":" << json_string(line) << ",\"valid\":false,\"error\":" << json_string(error) << "}\n";
      status = 1;
      return;
    }
    std::cout << decode_json(bytes, opt) << "\n";
  };
  if (have_args) {
    run(hex);
    return status;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    run(line);
  }
  return status;
}
