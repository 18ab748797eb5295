#include "boot/config.hpp"

#include "vmm/log/format.hpp"

namespace boot {
namespace {

struct Slice {
  const char* p;
  size_t n;
  bool equals(const char* s) const {
    size_t i = 0;
    for (; i < n; ++i)
      if (s[i] != p[i]) return false;
    return s[i] == '\0';
  }
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

Slice trim(Slice s) {
  while (s.n && is_blank(*s.p)) ++s.p, --s.n;
  while (s.n && is_blank(s.p[s.n - 1])) --s.n;
  return s;
}

// 0x followed by 1..16 hex digits.
bool parse_hex64(Slice v, uint64_t* out) {
  if (v.n < 3 || v.n > 18 || v.p[0] != '0' || (v.p[1] != 'x' && v.p[1] != 'X')) return false;
  uint64_t x = 0;
  for (size_t i = 2; i < v.n; ++i) {
    char c = v.p[i];
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else return false;
    x = x * 16 + d;
  }
  *out = x;
  return true;
}

// 0x followed by 1..4 hex digits, not zero (an I/O port).
bool parse_hex16(Slice v, uint16_t* out) {
  uint64_t x = 0;
  if (v.n > 6 || !parse_hex64(v, &x) || x == 0) return false;
  *out = static_cast<uint16_t>(x);
  return true;
}

class Parser {
 public:
  Parser(Config* cfg, ConfigReport report, void* ctx) : cfg_(cfg), report_(report), ctx_(ctx) {}

  void line(unsigned number, Slice text) {
    number_ = number;
    for (size_t i = 0; i < text.n; ++i)
      if (text.p[i] == '#') text.n = i;
    text = trim(text);
    if (!text.n) return;
    size_t eq = 0;
    while (eq < text.n && text.p[eq] != '=') ++eq;
    if (eq == text.n) return problem("'%.*s' is not key=value; line ignored", text);
    Slice key = trim(Slice{text.p, eq});
    Slice value = trim(Slice{text.p + eq + 1, text.n - eq - 1});
    if (!key.n) return problem("missing key before '='; line ignored", text);
    if (key.equals("log")) return log(value);
    if (key.equals("serial")) return serial(value);
    if (key.equals("chainload")) return chainload(value);
    if (key.equals("cmdline")) return cmdline(value);
    if (key.equals("apx")) return apx(value);
    if (key.equals("dt_guard")) return dt_guard(value);
    if (key.equals("init_sipi")) return init_sipi(value);
    if (key.equals("apic_virt")) return apic_virt(value);
    if (key.equals("monitor")) return monitor(value);
    problem("unknown key '%.*s'; line ignored", key);
  }

  unsigned problems() const { return problems_; }

 private:
  void problem(const char* fmt, Slice s) {
    char msg[160];
    vmm::format(msg, sizeof msg, fmt, static_cast<int>(s.n > 64 ? 64 : s.n), s.p);
    ++problems_;
    if (report_) report_(ctx_, number_, msg);
  }

  void log(Slice v) {
    if (!vmm::parse_log_level(v.p, v.n, &cfg_->log_level))
      problem("log='%.*s' is not fatal|error|warn|info|debug; keeping the default", v);
  }

  void serial(Slice v) {
    if (v.equals("com1")) cfg_->serial_port = 0x3f8;
    else if (v.equals("com2")) cfg_->serial_port = 0x2f8;
    else if (v.equals("off")) cfg_->serial_port = 0;
    else if (!parse_hex16(v, &cfg_->serial_port))
      problem("serial='%.*s' is not com1|com2|off|0x<port>; keeping the default", v);
  }

  void chainload(Slice v) {
    if (!v.n) return problem("chainload%.*s= is empty; using the next boot entry", v);
    if (v.n >= Config::kPathMax) return problem("chainload path is too long ('%.*s...'); ignored", v);
    for (size_t i = 0; i < v.n; ++i) cfg_->chainload[i] = v.p[i] == '/' ? '\\' : v.p[i];
    cfg_->chainload[v.n] = '\0';
  }

  void cmdline(Slice v) {
    if (v.n >= Config::kCmdlineMax) return problem("cmdline is too long ('%.*s...'); ignored", v);
    for (size_t i = 0; i < v.n; ++i) cfg_->cmdline[i] = v.p[i];
    cfg_->cmdline[v.n] = '\0';
  }

  void apx(Slice v) {
    if (v.equals("auto")) cfg_->apx = ApxMode::auto_detect;
    else if (v.equals("off")) cfg_->apx = ApxMode::off;
    else problem("apx='%.*s' is not auto|off; keeping the default", v);
  }

  void dt_guard(Slice v) {
    if (v.equals("on")) cfg_->dt_guard = true;
    else if (v.equals("off")) cfg_->dt_guard = false;
    else problem("dt_guard='%.*s' is not on|off; keeping the default", v);
  }

  void init_sipi(Slice v) {
    if (v.equals("auto")) cfg_->init_sipi = InitSipiMode::auto_detect;
    else if (v.equals("native")) cfg_->init_sipi = InitSipiMode::native;
    else if (v.equals("intercept")) cfg_->init_sipi = InitSipiMode::intercept;
    else problem("init_sipi='%.*s' is not auto|native|intercept; keeping the default", v);
  }

  void apic_virt(Slice v) {
    if (v.equals("auto")) cfg_->apic_virt = ApicVirtMode::auto_detect;
    else if (v.equals("off")) cfg_->apic_virt = ApicVirtMode::off;
    else problem("apic_virt='%.*s' is not auto|off; keeping the default", v);
  }

  // monitor=0x<gpa>[+0x<size>][,...]: the whole line or nothing.
  void monitor(Slice v) {
    MonitorRange parsed[Config::kMonitorMax];
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= v.n; ++i) {
      if (i < v.n && v.p[i] != ',') continue;
      Slice item = trim(Slice{v.p + start, i - start});
      start = i + 1;
      size_t plus = 0;
      while (plus < item.n && item.p[plus] != '+') ++plus;
      MonitorRange r{0, 0x1000};
      const bool ok = parse_hex64(trim(Slice{item.p, plus}), &r.gpa) &&
                      (plus == item.n || parse_hex64(trim(Slice{item.p + plus + 1, item.n - plus - 1}), &r.size));
      if (!ok) return problem("monitor: '%.*s' is not 0x<gpa>[+0x<size>]; line ignored", item);
      if (r.size == 0 || r.gpa + r.size < r.gpa)
        return problem("monitor: '%.*s' is empty or wraps past 2^64; line ignored", item);
      if (cfg_->monitor_count + n == Config::kMonitorMax)
        return problem("monitor: more than 16 ranges (at '%.*s'); line ignored", item);
      parsed[n++] = r;
    }
    for (size_t i = 0; i < n; ++i) cfg_->monitor[cfg_->monitor_count++] = parsed[i];
  }

  Config* cfg_;
  ConfigReport report_;
  void* ctx_;
  unsigned number_ = 0;
  unsigned problems_ = 0;
};

}  // namespace

unsigned parse_config(const char* text, size_t len, Config* cfg, ConfigReport report, void* ctx) {
  Parser parser(cfg, report, ctx);
  unsigned number = 1;
  size_t start = 0;
  for (size_t i = 0; i <= len; ++i) {
    if (i == len || text[i] == '\n') {
      parser.line(number++, Slice{text + start, i - start});
      start = i + 1;
    }
  }
  return parser.problems();
}

const char* apx_mode_name(ApxMode m) { return m == ApxMode::off ? "off" : "auto"; }

const char* apic_virt_mode_name(ApicVirtMode m) { return m == ApicVirtMode::off ? "off" : "auto"; }

const char* init_sipi_mode_name(InitSipiMode m) {
  switch (m) {
    case InitSipiMode::native: return "native";
    case InitSipiMode::intercept: return "intercept";
    default: return "auto";
  }
}

size_t describe_config_changes(const Config& cfg, bool serial_shared, char* buf, size_t cap) {
  const Config defaults;
  size_t n = 0;
  if (cap) buf[0] = 0;
  auto add = [&](const char* fmt, auto... args) {
    if (n >= cap) return;
    n += vmm::format(buf + n, cap - n, fmt, n ? " " : "", args...);
    if (n >= cap) n = cap - 1;
  };
  if (cfg.log_level != defaults.log_level) add("%slog=%s", vmm::log_level_name(cfg.log_level));
  if (cfg.serial_port != defaults.serial_port || !serial_shared)
    add("%sserial=0x%x%s", cfg.serial_port, serial_shared ? "" : " (not shared with ConOut)");
  if (cfg.chainload[0]) add("%schainload=%s", cfg.chainload);
  if (cfg.apx != defaults.apx) add("%sapx=%s", apx_mode_name(cfg.apx));
  if (cfg.dt_guard != defaults.dt_guard) add("%sdt_guard=%s", cfg.dt_guard ? "on" : "off");
  if (cfg.init_sipi != defaults.init_sipi) add("%sinit_sipi=%s", init_sipi_mode_name(cfg.init_sipi));
  if (cfg.apic_virt != defaults.apic_virt) add("%sapic_virt=%s", apic_virt_mode_name(cfg.apic_virt));
  if (cfg.monitor_count) add("%smonitor=(%zu range%s)", cfg.monitor_count, cfg.monitor_count == 1 ? "" : "s");
  return n;
}

}  // namespace boot
