#include <memory>
#include <catch.hpp>
#include <string>
#include <vector>

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

// ---- issue P8: logging never blocks a CPU on a guest's behalf ----------------------------

namespace {
// Lines of a Capture, in order.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) out.push_back(text.substr(at, nl - at));
  return out;
}
}  // namespace

TEST_CASE("cause limiter: a burst, then every 2^k-th line with the count left out") {
  vmm::CauseLimiter limiter;
  const int a = 0, b = 0;
  std::vector<uint64_t> printed_at, suppressed;
  for (uint64_t n = 1; n <= 1000000; ++n) {
    const auto v = limiter.admit(&a);
    CHECK(v.seen == n);
    if (v.print) printed_at.push_back(n), suppressed.push_back(v.suppressed);
  }
  // 1..8, then 16, 32, ..., 2^19 = 524288: 8 + 16 lines for a million.
  REQUIRE(printed_at.size() == 24);
  for (uint64_t i = 0; i < 8; ++i) CHECK(printed_at[i] == i + 1);
  CHECK(printed_at[8] == 16);
  CHECK(suppressed[8] == 7);  // 9..15
  CHECK(printed_at[23] == 524288);
  CHECK(suppressed[23] == 262143);
  for (uint64_t i = 0; i < 8; ++i) CHECK(suppressed[i] == 0);
  // Another cause has its own budget.
  CHECK(limiter.admit(&b).print);
  CHECK(limiter.admit(&b).seen == 2);
}

TEST_CASE("cause limiter: more causes than slots share the last one, none is lost") {
  vmm::CauseLimiter limiter;
  static char causes[vmm::CauseLimiter::kSlots + 10];
  for (unsigned i = 0; i + 1 < vmm::CauseLimiter::kSlots; ++i) CHECK(limiter.admit(&causes[i]).print);
  // The other 11 share the last slot: they are counted together (the first kBurst printed).
  unsigned printed = 0;
  for (unsigned i = vmm::CauseLimiter::kSlots - 1; i < sizeof causes; ++i) printed += limiter.admit(&causes[i]).print;
  CHECK(printed == vmm::CauseLimiter::kBurst);
  CHECK(limiter.admit(&causes[vmm::CauseLimiter::kSlots + 9]).seen == 12);
  CHECK(limiter.admit(&causes[0]).seen == 2);
}

TEST_CASE("log_guest: a flood of one guest-caused line prints a bounded number, with counts") {
  auto log = std::make_unique<vmm::Log>();
  Capture cap;
  log->add_sink({Capture::write, &cap});
  for (int i = 0; i < 100; ++i) log->log_guest(vmm::LogLevel::warn, "write %d refused", i);
  log->log_guest(vmm::LogLevel::warn, "another cause");
  const auto lines = lines_of(cap.text);
  // 8 lines, the notice before the 8th, then the 16th, 32nd, 64th each after its count line.
  REQUIRE(lines.size() == 8 + 1 + 3 * 2 + 1);
  CHECK(lines[0] == "apexvisor: write 0 refused [cpu0 warn]");
  CHECK(lines[7] == "apexvisor: the next line is the 8th like it: further ones are rate-limited (every 2^k-th printed) [cpu0 warn]");
  CHECK(lines[8] == "apexvisor: write 7 refused [cpu0 warn]");
  CHECK(lines[9] == "apexvisor: 7 more lines like the next were suppressed [cpu0 warn]");
  CHECK(lines[10] == "apexvisor: write 15 refused [cpu0 warn]");
  CHECK(lines[13] == "apexvisor: 31 more lines like the next were suppressed [cpu0 warn]");
  CHECK(lines[14] == "apexvisor: write 63 refused [cpu0 warn]");
  CHECK(lines[15] == "apexvisor: another cause [cpu0 warn]");
  // A level the log does not print is not counted either.
  log->log_guest(vmm::LogLevel::debug, "quiet");
  CHECK(lines_of(cap.text).size() == 16);
}

TEST_CASE("log_private: at debug level on the sinks, never in the ring") {
  auto log = std::make_unique<vmm::Log>();
  Capture cap;
  log->add_sink({Capture::write, &cap});
  log->log_private("rsp 0x%x", 0x1234u);
  CHECK(cap.text.empty());  // level info: not printed at all
  log->set_level(vmm::LogLevel::debug);
  log->log(vmm::LogLevel::info, "before");
  log->log_private("rsp 0x%x", 0x1234u);
  log->log(vmm::LogLevel::info, "after");
  CHECK(cap.text ==
        "apexvisor: before [cpu0 info]\napexvisor: rsp 0x1234 [cpu0 debug]\napexvisor: after [cpu0 info]\n");
  char out[256];
  const size_t n = log->read_ring(0, out, sizeof out);
  CHECK(std::string(out, n) == "apexvisor: before [cpu0 info]\napexvisor: after [cpu0 info]\n");
}

namespace {
// A sink that, while it writes, lets "another CPU" log: that CPU must return at once (the
// drainer, this sink's CPU, writes its line next) instead of waiting for the UART.
struct SlowSink {
  vmm::Log* log = nullptr;
  std::string text;
  int nested_returned = 0;
  bool inside = false;
  static void write(void* ctx, const char* s, size_t n) {
    auto* self = static_cast<SlowSink*>(ctx);
    self->text.append(s, n);
    if (self->inside || self->log == nullptr) return;
    self->inside = true;
    g_cpu = 1;
    self->log->log(vmm::LogLevel::warn, "from cpu1");
    self->nested_returned = self->text.find("from cpu1") == std::string::npos;  // not written by cpu1 itself
    g_cpu = 0;
    self->inside = false;
    self->log = nullptr;
  }
  static inline unsigned g_cpu = 0;
  static unsigned cpu() { return g_cpu; }
};
}  // namespace

TEST_CASE("log: a CPU that finds another writing the sinks leaves its line to it") {
  auto log = std::make_unique<vmm::Log>();
  SlowSink sink;
  sink.log = log.get();
  log->add_sink({SlowSink::write, &sink});
  log->set_cpu_resolver(SlowSink::cpu);
  log->log(vmm::LogLevel::info, "from cpu0");
  CHECK(sink.nested_returned == 1);
  CHECK(sink.text == "apexvisor: from cpu0 [cpu0 info]\napexvisor: from cpu1 [cpu1 warn]\n");
}
