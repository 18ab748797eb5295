#include <catch.hpp>
#include <string>
#include <vector>

#include "boot/config.hpp"

namespace {
struct Problems {
  std::vector<std::pair<unsigned, std::string>> list;
  static void report(void* ctx, unsigned line, const char* msg) {
    static_cast<Problems*>(ctx)->list.emplace_back(line, msg);
  }
};

boot::Config parse(const std::string& text, Problems* p) {
  boot::Config cfg;
  boot::parse_config(text.data(), text.size(), &cfg, Problems::report, p);
  return cfg;
}
}  // namespace

TEST_CASE("config: every key and value") {
  Problems p;
  auto cfg = parse("# comment\n log = debug \nserial=com2\r\nchainload=/EFI/Linux/vmlinuz.efi # trailing\n"
                   "apx=off\ndt_guard=on\ninit_sipi=intercept\napic_virt=off\n\n",
                   &p);
  CHECK(p.list.empty());
  CHECK(cfg.log_level == vmm::LogLevel::debug);
  CHECK(cfg.serial_port == 0x2f8);
  CHECK(std::string(cfg.chainload) == "\\EFI\\Linux\\vmlinuz.efi");
  CHECK(cfg.apx == boot::ApxMode::off);
  CHECK(cfg.dt_guard);
  CHECK(cfg.init_sipi == boot::InitSipiMode::intercept);
  CHECK(cfg.apic_virt == boot::ApicVirtMode::off);
}

TEST_CASE("config: defaults when empty") {
  Problems p;
  auto cfg = parse("", &p);
  CHECK(p.list.empty());
  CHECK(cfg.log_level == vmm::LogLevel::info);
  CHECK(cfg.serial_port == 0x3f8);
  CHECK(cfg.chainload[0] == '\0');
  CHECK(cfg.apx == boot::ApxMode::auto_detect);
  CHECK_FALSE(cfg.dt_guard);
  CHECK(cfg.apic_virt == boot::ApicVirtMode::auto_detect);
}

TEST_CASE("config: each malformed line is named and the default kept") {
  struct Row {
    std::string text;
    std::string expect;  // substring of the message
  };
  const Row rows[] = {
      {"garbage", "'garbage' is not key=value"},
      {"=value", "missing key"},
      {"colour=blue", "unknown key 'colour'"},
      {"log=loud", "log='loud' is not"},
      {"serial=com9", "serial='com9' is not"},
      {"serial=0xzz", "serial='0xzz' is not"},
      {"apx=on", "apx='on' is not auto|off"},
      {"dt_guard=yes", "dt_guard='yes' is not on|off"},
      {"init_sipi=magic", "init_sipi='magic' is not"},
      {"apic_virt=on", "apic_virt='on' is not auto|off"},
      {"monitor=4096", "monitor: '4096' is not 0x<gpa>[+0x<size>]"},
      {"monitor=0x1000,0xzz", "'0xzz' is not"},
      {"monitor=0x1000+0x0", "is empty or wraps"},
      {"monitor=0xffffffffffffffff+0x2", "is empty or wraps"},
      {"monitor=0x10000000000000000", "is not 0x<gpa>"},
      {"chainload=", "empty"},
      {"chainload=" + std::string(300, 'a'), "too long"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    Problems p;
    auto cfg = parse("log=warn\n" + r.text + "\n", &p);
    REQUIRE(p.list.size() == 1);
    CHECK(p.list[0].first == 2);
    CHECK(p.list[0].second.find(r.expect) != std::string::npos);
    CHECK(cfg.log_level == vmm::LogLevel::warn);  // the good line still applies
    CHECK(cfg.serial_port == 0x3f8);
    CHECK(cfg.apx == boot::ApxMode::auto_detect);
  }
}

TEST_CASE("config: serial port forms") {
  Problems p;
  CHECK(parse("serial=off", &p).serial_port == 0);
  CHECK(parse("serial=0x2e8", &p).serial_port == 0x2e8);
  CHECK(p.list.empty());
}

TEST_CASE("config: monitor ranges add up across lines; a bad line adds none") {
  Problems p;
  auto cfg = parse("monitor=0x1000\nmonitor = 0x2000+0x10 , 0X3000+0x8\nmonitor=0x4000,bad\n", &p);
  REQUIRE(p.list.size() == 1);
  CHECK(p.list[0].first == 3);
  REQUIRE(cfg.monitor_count == 3);
  CHECK(cfg.monitor[0].gpa == 0x1000);
  CHECK(cfg.monitor[0].size == 0x1000);  // the default size: one page
  CHECK(cfg.monitor[1].gpa == 0x2000);
  CHECK(cfg.monitor[1].size == 0x10);
  CHECK(cfg.monitor[2].gpa == 0x3000);
  CHECK(cfg.monitor[2].size == 0x8);
  CHECK(parse("", &p).monitor_count == 0);

  std::string many = "monitor=";
  for (int i = 0; i < 16; ++i) many += (i ? ",0x" : "0x") + std::to_string(i + 1) + "000";
  Problems q;
  auto full = parse(many + "\nmonitor=0x99000\n", &q);
  CHECK(full.monitor_count == 16);
  REQUIRE(q.list.size() == 1);
  CHECK(q.list[0].second.find("more than 16") != std::string::npos);
}

TEST_CASE("config: the default-level line names only what differs from the defaults") {
  char buf[512];
  boot::Config defaults;
  CHECK(boot::describe_config_changes(defaults, true, buf, sizeof buf) == 0);
  CHECK(std::string(buf).empty());
  // Not ConOut's UART: said even at the default port.
  boot::describe_config_changes(defaults, false, buf, sizeof buf);
  CHECK(std::string(buf) == "serial=0x3f8 (not shared with ConOut)");

  Problems p;
  auto cfg = parse("chainload=\\EFI\\x.efi\napx=off\ninit_sipi=native\nmonitor=0x1000,0x3000\nlog=debug\n", &p);
  CHECK(p.list.empty());
  boot::describe_config_changes(cfg, true, buf, sizeof buf);
  CHECK(std::string(buf) == "log=debug chainload=\\EFI\\x.efi apx=off init_sipi=native monitor=(2 ranges)");

  cfg = parse("serial=com2\ndt_guard=on\napic_virt=off\ninit_sipi=auto\napx=auto\n", &p);
  boot::describe_config_changes(cfg, true, buf, sizeof buf);
  CHECK(std::string(buf) == "serial=0x2f8 dt_guard=on apic_virt=off");

  // Truncated, never past the buffer, always terminated.
  char small[12];
  const size_t n = boot::describe_config_changes(cfg, true, small, sizeof small);
  CHECK(n == sizeof small - 1);
  CHECK(std::string(small) == "serial=0x2f");
}
