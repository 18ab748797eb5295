// bench-decode: decoder throughput on real code. Decodes the .text of a large ELF (default:
// libLLVM 19, else clang-19) linearly with apexvisor's decode::decode and with raw Zydis
// (ZydisDecoderDecodeFull, same machine mode), and prints instructions per second for both and
// their ratio. Not a test: timings depend on the machine.
//
//   bench-decode [ELF] [--max-mb N] [--repeat N]
#include <Zydis/Decoder.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "decode/decode.hpp"

namespace {

const char* const kDefaultInputs[] = {
    "/usr/lib/x86_64-linux-gnu/libLLVM-19.so.1",
    "/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1",
    "/usr/lib/llvm-19/lib/libLLVM.so.1",
    "/usr/lib/llvm-19/bin/clang",
    "/usr/bin/clang-19",
};

template <typename T>
T read_at(const std::vector<uint8_t>& f, size_t off) {
  T v{};
  if (off + sizeof(T) <= f.size()) std::memcpy(&v, f.data() + off, sizeof(T));
  return v;
}

// Minimal ELF64 little-endian section reader: returns the bytes of `.text`.
bool text_section(const std::vector<uint8_t>& f, size_t& off, size_t& size, std::string& error) {
  if (f.size() < 64 || std::memcmp(f.data(), "\x7f" "ELF", 4) != 0) return error = "not an ELF file", false;
  if (f[4] != 2 || f[5] != 1) return error = "not ELF64 little-endian", false;
  const uint64_t shoff = read_at<uint64_t>(f, 0x28);
  const uint16_t shentsize = read_at<uint16_t>(f, 0x3A);
  const uint16_t shnum = read_at<uint16_t>(f, 0x3C);
  const uint16_t shstrndx = read_at<uint16_t>(f, 0x3E);
  if (shentsize < 64 || shstrndx >= shnum || shoff + uint64_t(shnum) * shentsize > f.size()) {
    return error = "bad section header table", false;
  }
  const uint64_t strtab = read_at<uint64_t>(f, shoff + uint64_t(shstrndx) * shentsize + 0x18);
  for (unsigned i = 0; i < shnum; ++i) {
    const uint64_t sh = shoff + uint64_t(i) * shentsize;
    const uint32_t name = read_at<uint32_t>(f, sh);
    const uint64_t o = read_at<uint64_t>(f, sh + 0x18);
    const uint64_t s = read_at<uint64_t>(f, sh + 0x20);
    if (strtab + name + 6 <= f.size() && std::strcmp(reinterpret_cast<const char*>(f.data() + strtab + name), ".text") == 0) {
      if (o + s > f.size()) return error = ".text outside the file", false;
      off = o;
      size = s;
      return true;
    }
  }
  return error = "no .text section", false;
}

struct Result {
  uint64_t instructions = 0;
  uint64_t invalid = 0;
  double seconds = 0;
};

Result bench_apexvisor(const uint8_t* p, size_t n) {
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  decode::Options o;
  o.mode = decode::CpuMode::bits64;
  o.apx = true;
  decode::Instruction insn;
  for (size_t off = 0; off < n;) {
    decode::decode_into(p + off, n - off, o, insn);
    if (insn.ok()) {
      ++r.instructions;
      off += insn.length;
    } else {
      ++r.invalid;
      ++off;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

Result bench_zydis(const uint8_t* p, size_t n) {
  Result r;
  ZydisDecoder d;
  ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t off = 0; off < n;) {
    if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, p + off, n - off, &insn, ops))) {
      ++r.instructions;
      off += insn.length;
    } else {
      ++r.invalid;
      ++off;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  double max_mb = 32;
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: bench-decode [ELF] [--max-mb N (default 32, 0 = all)] [--repeat N (default 3)]\n";
      return 0;
    } else if (a == "--max-mb" && i + 1 < argc) {
      max_mb = std::stod(argv[++i]);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::stoi(argv[++i]);
    } else if (!a.empty() && a[0] != '-') {
      path = a;
    } else {
      std::cerr << "bench-decode: unknown argument '" << a << "'\n";
      return 2;
    }
  }
  if (path.empty()) {
    for (const char* p : kDefaultInputs) {
      if (std::ifstream(p)) {
        path = p;
        break;
      }
    }
  }
  if (path.empty()) {
    std::cerr << "bench-decode: no input ELF found; pass one\n";
    return 2;
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t off = 0, size = 0;
  std::string error;
  if (!text_section(file, off, size, error)) {
    std::cerr << "bench-decode: " << path << ": " << error << "\n";
    return 1;
  }
  if (max_mb > 0 && size > static_cast<size_t>(max_mb * 1024 * 1024)) size = static_cast<size_t>(max_mb * 1024 * 1024);
  const uint8_t* text = file.data() + off;
  std::printf("input: %s, .text bytes decoded: %zu\n", path.c_str(), size);

  Result best_a, best_z;
  for (int r = 0; r < repeat; ++r) {
    const Result a = bench_apexvisor(text, size);
    const Result z = bench_zydis(text, size);
    if (r == 0 || a.seconds < best_a.seconds) best_a = a;
    if (r == 0 || z.seconds < best_z.seconds) best_z = z;
  }
  const double a_rate = best_a.instructions / best_a.seconds;
  const double z_rate = best_z.instructions / best_z.seconds;
  std::printf("apexvisor decode::decode : %10llu insns (%llu undecodable bytes) in %.3f s = %.2f M insn/s\n",
              static_cast<unsigned long long>(best_a.instructions), static_cast<unsigned long long>(best_a.invalid),
              best_a.seconds, a_rate / 1e6);
  std::printf("raw Zydis DecodeFull     : %10llu insns (%llu undecodable bytes) in %.3f s = %.2f M insn/s\n",
              static_cast<unsigned long long>(best_z.instructions), static_cast<unsigned long long>(best_z.invalid),
              best_z.seconds, z_rate / 1e6);
  std::printf("ratio apexvisor/Zydis    : %.3f (best of %d runs)\n", a_rate / z_rate, repeat);
  return 0;
}
