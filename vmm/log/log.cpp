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
  __atomic_store_n(&written_, written_ + n, __ATOMIC_RELEASE);
}

size_t Log::read_ring(size_t skip, char* out, size_t cap) const {
  uint64_t retained = written_ < kRingSize ? written_ : kRingSize;
  if (skip >= retained) return 0;
  uint64_t start = written_ - retained + skip;
  size_t n = 0;
  for (; n < cap && start + n < written_; ++n) out[n] = ring_[(start + n) % kRingSize];
  return n;
}

void Log::write_sinks(const char* s, size_t n) {
  for (size_t i = 0; i < sink_count_; ++i) sinks_[i].write(sinks_[i].ctx, s, n);
}

void Log::append(const char* line, size_t n) {
  const bool taken = lock();
  ring_put(line, n);
  unlock(taken);
}

// Writes the ring to the sinks from drained_ up to `end` (or what is there, if less), in chunks
// copied under the lock (so a CPU that laps the ring meanwhile cannot tear what is written)
// and written with no lock held. If producers overran the ring, the lost bytes are skipped up
// to the next whole line and a note says how many.
void Log::write_pending(uint64_t end) {
  for (;;) {
    char chunk[256];
    size_t n = 0;
    uint64_t lost = 0;
    {
      const bool taken = lock();
      if (written_ - drained_ > kRingSize) {
        uint64_t from = written_ - kRingSize;
        while (from < written_ && ring_[from % kRingSize] != '\n') ++from;  // to a line start
        if (from < written_) ++from;
        lost = from - drained_;
        __atomic_store_n(&drained_, from, __ATOMIC_RELEASE);
      }
      const uint64_t stop = end < written_ ? end : written_;
      const uint64_t pending = stop > drained_ ? stop - drained_ : 0;
      n = pending < sizeof chunk ? static_cast<size_t>(pending) : sizeof chunk;
      for (size_t i = 0; i < n; ++i) chunk[i] = ring_[(drained_ + i) % kRingSize];
      __atomic_store_n(&drained_, drained_ + n, __ATOMIC_RELEASE);
      unlock(taken);
    }
    if (lost) {
      char note[96];
      size_t k = format(note, sizeof note, "apexvisor: log: %llu bytes lost before they reached the output\n",
                        static_cast<unsigned long long>(lost));
      write_sinks(note, k < sizeof note ? k : sizeof note - 1);
    }
    if (n == 0) return;
    write_sinks(chunk, n);
  }
}

// One CPU at a time feeds the sinks (the drainer). A drainer writes what was there when it
// started, then looks again a bounded number of times: CPUs that keep logging (a guest causing
// lines on several CPUs) cannot keep it from its own guest. A line added while the drainer is
// letting go is found by the re-check (a sequentially consistent release and load: on x86 a
// plain store could pass the load, and both sides would leave the line to the other).
void Log::drain(bool wait, const char* extra, size_t extra_n) {
  constexpr unsigned kMaxRounds = 4;
  constexpr uint64_t kWaitSpins = 1ull << 24;
  const uint32_t me = (cpu_resolver_ ? cpu_resolver_() : 0) + 1;
  uint64_t spins = 0;
  for (unsigned round = 0;;) {
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&drainer_, &expected, me, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      if (expected == me) {
        // Nested on this CPU: a host exception while it drained, whose fatal line comes next
        // and after which the CPU halts, never returning to the outer drain. Write everything
        // now and let go, so the other CPUs' lines keep reaching the output.
        write_pending(~0ull);
        if (extra) write_sinks(extra, extra_n);
        __atomic_store_n(&drainer_, 0u, __ATOMIC_SEQ_CST);
        return;
      }
      if (!wait) return;  // the drainer writes our lines too
      if (++spins > kWaitSpins) {  // the drainer does not let go (it halted): ours out of turn
        if (extra) write_sinks(extra, extra_n);
        return;
      }
      __builtin_ia32_pause();
      continue;
    }
    write_pending(__atomic_load_n(&written_, __ATOMIC_ACQUIRE));
    if (extra) write_sinks(extra, extra_n);
    extra = nullptr;
    wait = false;
    __atomic_exchange_n(&drainer_, 0u, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&written_, __ATOMIC_SEQ_CST) == __atomic_load_n(&drained_, __ATOMIC_SEQ_CST)) return;
    if (++round == kMaxRounds) return;  // the next line logged anywhere drains the rest
  }
}

size_t Log::compose(char* line, LogLevel level, const char* fmt, va_list ap) const {
  // Room is kept for the suffix, so a long message is cut rather than its CPU and level.
  constexpr size_t kSuffixRoom = 24;
  size_t n = format(line, kMaxLine - kSuffixRoom, "apexvisor: ");
  size_t body = vformat(line + n, kMaxLine - kSuffixRoom - n, fmt, ap);
  n += body;
  if (n > kMaxLine - kSuffixRoom - 1) n = kMaxLine - kSuffixRoom - 1;
  unsigned cpu = cpu_resolver_ ? cpu_resolver_() : 0;
  n += format(line + n, kMaxLine - n, " [cpu%u %s]\n", cpu, log_level_name(level));
  if (n > kMaxLine - 1) n = kMaxLine - 1;
  return n;
}

void Log::vlog(LogLevel level, const char* fmt, va_list ap) {
  if (level > level_) return;
  char line[kMaxLine];
  const size_t n = compose(line, level, fmt, ap);
  append(line, n);
  // A fatal line is the last this CPU says (it halts next): out before returning.
  drain(level == LogLevel::fatal);
}

void Log::write_line(const char* line, size_t n) {
  append(line, n);
  drain(false);
}

void Log::log(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

void Log::log_guest(LogLevel level, const char* fmt, ...) {
  if (level > level_) return;
  const CauseLimiter::Verdict v = causes_.admit(fmt);
  if (!v.print) return;
  if (v.suppressed) log(level, "%llu more lines like the next were suppressed", static_cast<unsigned long long>(v.suppressed));
  else if (v.seen == CauseLimiter::kBurst)
    log(level, "the next line is the %lluth like it: further ones are rate-limited (every 2^k-th printed)",
        static_cast<unsigned long long>(v.seen));
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

void Log::log_private(const char* fmt, ...) {
  if (LogLevel::debug > level_) return;
  char line[kMaxLine];
  va_list ap;
  va_start(ap, fmt);
  const size_t n = compose(line, LogLevel::debug, fmt, ap);
  va_end(ap);
  drain(true, line, n);
}

Log& global_log() {
  static Log log;  // constant-initialised: the image has no .init_array runner
  return log;
}

}  // namespace vmm
