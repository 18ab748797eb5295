// Every line of tests/decode/data/apx_vectors.tsv (the public APX decoder vectors, kept in the
// repository; its first line says where it came from), read at test time.
// Valid rows: length, mnemonic and formatted text equal the vector. Invalid rows: rejected,
// and the reason is the rule the "rule: ..." source names.
// A missing or empty file is a failure, never a skip: the data is part of the tree.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "decode/decode.hpp"
#include "decode/format.hpp"

#ifndef APX_VECTORS_TSV
#error "meson passes -DAPX_VECTORS_TSV=<path>"
#endif

namespace {

struct Vector {
  int line = 0;
  std::vector<uint8_t> bytes;
  unsigned length = 0;
  std::string kind, intel, source;
};

std::vector<std::string> split_tabs(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\t') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<Vector> load(const char* path) {
  std::vector<Vector> rows;
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const auto f = split_tabs(line);
    if (f.size() < 5 || f[0] == "hex") continue;
    Vector v;
    v.line = n;
    std::istringstream hex(f[0]);
    std::string byte;
    while (hex >> byte) v.bytes.push_back(static_cast<uint8_t>(std::stoul(byte, nullptr, 16)));
    v.length = static_cast<unsigned>(std::stoul(f[1]));
    v.kind = f[2];
    v.intel = f[3];
    v.source = f[4];
    rows.push_back(v);
  }
  return rows;
}

// The mnemonic of an intel-column text: the first word that is not a prefix or a tag.
std::string expected_mnemonic(const std::string& intel) {
  std::istringstream words(intel);
  std::string w;
  while (words >> w) {
    if (w == "lock" || w == "rep" || w == "repne" || w == "repe" || w == "notrack" || w == "{nf}" ||
        w == "{evex}" || w == "{vex}" || w == "data16" || w == "addr32") {
      continue;
    }
    return w;
  }
  return "";
}

std::string collapse_spaces(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

std::string hex_of(const std::vector<uint8_t>& b) {
  std::string s;
  char t[4];
  for (uint8_t x : b) {
    std::snprintf(t, sizeof t, "%02x ", x);
    s += t;
  }
  return s;
}

bool tag_is_known(const std::string& tag) {
  for (unsigned r = 0; r <= static_cast<unsigned>(decode::Reason::internal); ++r) {
    if (tag == decode::reason_tag(static_cast<decode::Reason>(r))) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("apx_vectors.tsv: every row", "[decode][vectors]") {
  const auto rows = load(APX_VECTORS_TSV);
  REQUIRE(!rows.empty());
  unsigned valid = 0, invalid = 0;
  for (const Vector& v : rows) {
    const decode::Instruction insn = decode::decode(v.bytes.data(), v.bytes.size(), decode::CpuMode::bits64, true);
    char text[256];
    char mnem[64];
    decode::format_intel(insn, text, sizeof text);
    decode::format_mnemonic(insn, mnem, sizeof mnem);
    INFO("line " << v.line << ": " << hex_of(v.bytes) << "| " << v.kind << " | " << v.intel << " | " << v.source);
    INFO("decoded: " << text << " (len " << unsigned(insn.length) << ", " << decode::reason_id(insn.reason) << ")");
    if (v.kind == "invalid") {
      ++invalid;
      CHECK_FALSE(insn.ok());
      CHECK(insn.fault == decode::Fault::ud);
      const std::string prefix = "rule: ";
      if (v.source.rfind(prefix, 0) == 0) {
        const std::string tag = v.source.substr(prefix.size());
        if (tag_is_known(tag)) {
          CHECK(std::string(decode::reason_tag(insn.reason)) == tag);
        } else {
          WARN("line " << v.line << ": rule '" << tag << "' has no reason of that name; decoder says '"
                       << decode::reason_tag(insn.reason) << "'");
        }
      }
      continue;
    }
    ++valid;
    REQUIRE(insn.ok());
    CHECK(insn.length == v.length);
    CHECK(insn.length == v.bytes.size());
    CHECK(std::string(mnem) == expected_mnemonic(v.intel));
    CHECK(std::string(text) == collapse_spaces(v.intel));
    if (v.kind == "rex2") {
      CHECK(insn.encoding == decode::Encoding::rex2);
      CHECK(insn.emulatable());
    } else if (v.kind == "evex-apx") {
      CHECK(insn.evex.apx);
      CHECK_FALSE(insn.emulatable());
      CHECK(insn.reason == decode::Reason::evex_apx_not_emulated);
    } else if (v.kind == "legacy") {
      CHECK_FALSE(insn.evex.apx);
      CHECK(insn.encoding != decode::Encoding::rex2);
    }
  }
  std::printf("vectors.tsv: %u valid, %u invalid rows checked\n", valid, invalid);
}

int main(int argc, char* argv[]) {
  std::ifstream probe(APX_VECTORS_TSV);
  if (!probe) {
    std::printf("FAIL: %s cannot be read (it is part of the repository)\n", APX_VECTORS_TSV);
    return 1;
  }
  return Catch::Session().run(argc, argv);
}
