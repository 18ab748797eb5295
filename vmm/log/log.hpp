// The hypervisor's log: every line is "apexvisor: <message> [cpu<N> <level>]", written to
// each registered sink (ConOut, COM1, ...) and kept in an in-memory ring that survives into
// VMX root and can be read back by hypercall. Safe to call from several CPUs at once.
//
// No CPU waits for the UART on another's behalf (issue P8): a line is put into the ring under
// a short lock, and the sinks are fed from the ring by one CPU at a time, the drainer, which
// writes every line pending, its own and the ones other CPUs added meanwhile; a CPU that finds
// a drainer at work returns at once. Lines stay whole and in ring order on every sink.
// Lines a guest can cause go through log_guest() (rate-limited per cause, cause_limiter.hpp);
// lines that hold a hypervisor address go through log_private(): debug level, to the sinks
// only, never into the ring a guest can read (hypercall read_log).
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/log/cause_limiter.hpp"

namespace vmm {

enum class LogLevel : uint8_t { fatal, error, warn, info, debug };

const char* log_level_name(LogLevel level);
// Parses "fatal|error|warn|info|debug"; returns false (and leaves *out) on anything else.
bool parse_log_level(const char* s, size_t n, LogLevel* out);

struct LogSink {
  void (*write)(void* ctx, const char* text, size_t len);
  void* ctx;
};

class Log {
 public:
  static constexpr size_t kRingSize = 64 * 1024;
  static constexpr size_t kMaxSinks = 4;
  static constexpr size_t kMaxLine = 320;

  void set_level(LogLevel level) { level_ = level; }
  LogLevel level() const { return level_; }
  bool add_sink(LogSink sink);
  void remove_all_sinks();
  // Returns the number of the CPU that is logging; defaults to 0 until set.
  void set_cpu_resolver(unsigned (*resolver)()) { cpu_resolver_ = resolver; }

  void vlog(LogLevel level, const char* fmt, va_list ap);
  void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // A line a guest's action causes: the format string names the cause; after
  // CauseLimiter::kBurst lines of one cause only every 2^k-th is printed, preceded by a line
  // saying how many were left out.
  void log_guest(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // A line holding a hypervisor address: debug level, written to the sinks, never kept in
  // the ring.
  void log_private(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  // A line formatted elsewhere (the guest side of the loader: hypercall log_line), written as
  // it is to the ring and the sinks, in one piece with this log's own lines.
  void write_line(const char* line, size_t n);

  // Copies the ring's content, oldest byte first, starting `skip` bytes into what is
  // retained; returns the bytes copied. total_written() tells how much was ever logged.
  size_t read_ring(size_t skip, char* out, size_t cap) const;
  uint64_t total_written() const { return written_; }

 private:
  [[nodiscard]] bool lock();  // false: this CPU already holds it (see log.cpp)
  void unlock(bool taken);
  void ring_put(const char* s, size_t n);
  size_t compose(char* line, LogLevel level, const char* fmt, va_list ap) const;
  void append(const char* line, size_t n);  // into the ring, under the lock
  // Feeds the sinks from the ring, when no other CPU does. `wait`: wait for the drainer
  // instead of leaving the lines to it; `extra` (not in the ring) goes out last.
  void drain(bool wait, const char* extra = nullptr, size_t extra_n = 0);
  void write_sinks(const char* s, size_t n);
  void write_pending(uint64_t end);  // the ring from drained_ up to `end`, to the sinks

  LogLevel level_ = LogLevel::info;
  LogSink sinks_[kMaxSinks] = {};
  size_t sink_count_ = 0;
  unsigned (*cpu_resolver_)() = nullptr;
  volatile uint32_t lock_word_ = 0;
  uint32_t drainer_ = 0;   // the draining CPU's number + 1, 0 when none
  uint64_t written_ = 0;   // bytes ever put into the ring
  uint64_t drained_ = 0;   // bytes of the ring written to the sinks (only the drainer moves it)
  CauseLimiter causes_;
  char ring_[kRingSize] = {};
};

// The one log of the image (the tests make their own Log objects).
Log& global_log();

#define APEX_LOG(level, ...) ::vmm::global_log().log(::vmm::LogLevel::level, __VA_ARGS__)
// For lines a guest can cause (see Log::log_guest): rate-limited per call site.
#define APEX_LOG_GUEST(level, ...) ::vmm::global_log().log_guest(::vmm::LogLevel::level, __VA_ARGS__)
// For lines that hold a hypervisor address (see Log::log_private).
#define APEX_LOG_PRIVATE(...) ::vmm::global_log().log_private(__VA_ARGS__)

}  // namespace vmm
