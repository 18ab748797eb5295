#include <memory>
#include <catch.hpp>
#include <string>

#include "vmm/log/format.hpp"
#include "vmm/log/log.hpp"

using vmm::format;

namespace {
std::string fmt(const char* f, auto... args) {
  char buf[128];
  format(buf, sizeof buf, f, args...);
  return buf;
}
}  // namespace

TEST_CASE("format: conversions, one row per case") {
  CHECK(fmt("%d|%i|%u", -42, 7, 42u) == "-42|7|42");
  CHECK(fmt("%x|%X|%lx", 0xbeefu, 0xbeefu, 0x1234567890ul) == "beef|BEEF|1234567890");
  CHECK(fmt("%llx", 0xffffffffffffffffull) == "ffffffffffffffff");
  CHECK(fmt("%08x|%-4d|%4d", 0xabu, 5, 5) == "000000ab|5   |   5");
  CHECK(fmt("%05d", -42) == "-0042");
  CHECK(fmt("%s|%c|%%", "str", 'z') == "str|z|%");
  CHECK(fmt("%.*s|%.2s", 3, "abcdef", "xyz") == "abc|xy");
  const char* volatile null_string = nullptr;  // volatile: keep the compiler from warning
  CHECK(fmt("%s", null_string) == "(null)");
  CHECK(fmt("%zu", static_cast<size_t>(123)) == "123");
  CHECK(fmt("%d", -2147483647 - 1) == "-2147483648");
  CHECK(fmt("%lld", static_cast<long long>(-9223372036854775807ll - 1)) == "-9223372036854775808");
  CHECK(fmt("%q") == "%q");  // unknown conversion shows itself
  CHECK(fmt("%p", reinterpret_cast<void*>(0x1000)) == "0x1000");
}

TEST_CASE("format: truncates, always terminates, returns the full length") {
  char buf[5];
  CHECK(format(buf, sizeof buf, "%s", "abcdefgh") == 8);
  CHECK(std::string(buf) == "abcd");
  CHECK(format(buf, 1, "xyz") == 3);
  CHECK(buf[0] == '\0');
}

namespace {
struct Capture {
  std::string text;
  static void write(void* ctx, const char* s, size_t n) { static_cast<Capture*>(ctx)->text.append(s, n); }
};
unsigned cpu_three() { return 3; }
}  // namespace

TEST_CASE("log lines carry the prefix, the CPU and the level; the level filters") {
  auto log = std::make_unique<vmm::Log>();
  Capture cap;
  REQUIRE(log->add_sink({Capture::write, &cap}));
  log->set_cpu_resolver(cpu_three);
  log->log(vmm::LogLevel::info, "hello %d", 1);
  log->log(vmm::LogLevel::debug, "hidden");
  log->set_level(vmm::LogLevel::debug);
  log->log(vmm::LogLevel::debug, "shown");
  CHECK(cap.text == "apexvisor: hello 1 [cpu3 info]\napexvisor: shown [cpu3 debug]\n");
}

TEST_CASE("log: an over-long message is cut but keeps its suffix") {
  auto log = std::make_unique<vmm::Log>();
  Capture cap;
  log->add_sink({Capture::write, &cap});
  std::string big(1000, 'x');
  log->log(vmm::LogLevel::warn, "%s", big.c_str());
  REQUIRE(cap.text.size() < vmm::Log::kMaxLine);
  CHECK(cap.text.rfind(" [cpu0 warn]\n") == cap.text.size() - 13);
}

TEST_CASE("log ring keeps the newest bytes in order") {
  auto log = std::make_unique<vmm::Log>();
  log->log(vmm::LogLevel::info, "first");
  char out[256];
  size_t n = log->read_ring(0, out, sizeof out);
  CHECK(std::string(out, n) == "apexvisor: first [cpu0 info]\n");
  // Overflow the ring: the oldest line disappears and what is kept is contiguous.
  for (int i = 0; i < 5000; ++i) log->log(vmm::LogLevel::info, "line %05d", i);
  CHECK(log->total_written() > vmm::Log::kRingSize);
  std::string all(vmm::Log::kRingSize, '\0');
  n = log->read_ring(0, all.data(), all.size());
  CHECK(n == vmm::Log::kRingSize);
  CHECK(all.find("first") == std::string::npos);
  CHECK(all.rfind("apexvisor: line 04999 [cpu0 info]\n") == all.size() - 34);
  CHECK(log->read_ring(vmm::Log::kRingSize, out, sizeof out) == 0);
}

TEST_CASE("parse_log_level accepts exactly the level names") {
  vmm::LogLevel l = vmm::LogLevel::info;
  CHECK(vmm::parse_log_level("debug", 5, &l));
  CHECK(l == vmm::LogLevel::debug);
  CHECK_FALSE(vmm::parse_log_level("deb", 3, &l));
  CHECK_FALSE(vmm::parse_log_level("debugx", 6, &l));
  CHECK(l == vmm::LogLevel::debug);
}
