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

void Log::lock() {
  while (__atomic_exchange_n(&lock_word_, 1u, __ATOMIC_ACQUIRE))
    while (__atomic_load_n(&lock_word_, __ATOMIC_RELAXED)) __builtin_ia32_pause();
}

void Log::unlock() { __atomic_store_n(&lock_word_, 0u, __ATOMIC_RELEASE); }

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
  lock();
  ring_put(line, n);
  for (size_t i = 0; i < sink_count_; ++i) sinks_[i].write(sinks_[i].ctx, line, n);
  unlock();
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
