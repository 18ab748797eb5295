#include "vmm/log/log.hpp"

#include "vmm/log/format.hpp"

namespace vmm {

namespace {
constexpr const char* kLevelNames[] = {"fatal", "error", "warn", "info", "debug"};
}

const char* log_level_name(LogLevel level) {
  auto i = static_cast<unsigned>(level);
  return i < 5 ? kLevelNames[i] : "?";
}

bool parse_log_level(const char* s, size_t n, LogLevel* out) {
  for (unsigned i = 0; i < 5; ++i) {
    const char* name = kLevelNames[i];
    size_t k = 0;
    while (k < n && name[k] && name[k] == s[k]) ++k;
    if (k == n && name[k] == '\0') {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

bool Log::add_sink(LogSink sink) {
  if (sink_count_ == kMaxSinks) return false;
  sinks_[sink_count_++] = sink;
  return true;
}

void Log::remove_all_sinks() { sink_count_ = 0; }

// The lock word holds the owner's CPU number + 1. The same physical CPU can come back here
// while it holds the lock: the loader keeps running as a guest after the launch and logs,
// and a VM exit in the middle of its line may log from the host. Spinning then would wait
// for ourselves forever; instead the nested line goes out at once (and may split the outer
// one in the output).
bool Log::lock() {
  const uint32_t me = (cpu_resolver_ ? cpu_resolver_() : 0) + 1;
  uint32_t expected = 0;
  while (!__atomic_compare_exchange_n(&lock_word_, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    if (expected == me) return false;  // nested on this CPU: proceed without the lock
    expected = 0;
    __builtin_ia32_pause();
  }
  return true;
}

void Log::unlock(bool taken) {
  if (taken) __atomic_store_n(&lock_word_, 0u, __ATOMIC_RELEASE);
}

void Log::ring_put(const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) ring_[(written_ + i) % kRingSize] = s[i];
  written_ += n;
}

size_t Log::read_ring(size_t skip, char* out, size_t cap) const {
  uint64_t retained = written_ < kRingSize ? written_ : kRingSize;
  if (skip >= retained) return 0;
  uint64_t start = written_ - retained + skip;
  size_t n = 0;
  for (; n < cap && start + n < written_; ++n) out[n] = ring_[(start + n) % kRingSize];
  return n;
}

void Log::vlog(LogLevel level, const char* fmt, va_list ap) {
  if (level > level_) return;
  char line[kMaxLine];
  // Room is kept for the suffix, so a long message is cut rather than its CPU and level.
  constexpr size_t kSuffixRoom = 24;
  size_t n = format(line, sizeof line - kSuffixRoom, "apexvisor: ");
  size_t body = vformat(line + n, sizeof line - kSuffixRoom - n, fmt, ap);
  n += body;
  if (n > sizeof line - kSuffixRoom - 1) n = sizeof line - kSuffixRoom - 1;
  unsigned cpu = cpu_resolver_ ? cpu_resolver_() : 0;
  n += format(line + n, sizeof line - n, " [cpu%u %s]\n", cpu, log_level_name(level));
  if (n > sizeof line - 1) n = sizeof line - 1;
  const bool taken = lock();
  ring_put(line, n);
  for (size_t i = 0; i < sink_count_; ++i) sinks_[i].write(sinks_[i].ctx, line, n);
  unlock(taken);
}

void Log::write_line(const char* line, size_t n) {
  const bool taken = lock();
  ring_put(line, n);
  for (size_t i = 0; i < sink_count_; ++i) sinks_[i].write(sinks_[i].ctx, line, n);
  unlock(taken);
}

void Log::log(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

Log& global_log() {
  static Log log;  // constant-initialised: the image has no .init_array runner
  return log;
}

}  // namespace vmm
