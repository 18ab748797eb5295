// The hypervisor's log: every line is "apexvisor: <message> [cpu<N> <level>]", written to
// each registered sink (ConOut, COM1, ...) and kept in an in-memory ring that survives into
// VMX root and can be read back by hypercall. Safe to call from several CPUs at once.
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

  LogLevel level_ = LogLevel::info;
  LogSink sinks_[kMaxSinks] = {};
  size_t sink_count_ = 0;
  unsigned (*cpu_resolver_)() = nullptr;
  volatile uint32_t lock_word_ = 0;
  uint64_t written_ = 0;
  char ring_[kRingSize] = {};
};

// The one log of the image (the tests make their own Log objects).
Log& global_log();

#define APEX_LOG(level, ...) ::vmm::global_log().log(::vmm::LogLevel::level, __VA_ARGS__)

}  // namespace vmm
