#include "vmx/vmcs_dump.hpp"

namespace vmx {
namespace {

// A bounded string builder: no libc in VMX root.
struct Line {
  char* buf;
  size_t len = 0;
  void put(char c) {
    if (len + 1 < kDumpLineMax) buf[len++] = c;
    buf[len] = '\0';
  }
  void put(const char* s) {
    while (*s) put(*s++);
  }
  void hex(uint64_t v, unsigned digits) {
    put("0x");
    for (unsigned i = digits; i-- > 0;) put("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
  }
};

void begin_line(Line& l, VmcsField f) {
  l.buf[0] = '\0';
  l.put(vmcs_field_name(f));
  l.put(" (");
  l.hex(encoding(f), 4);
  l.put(") = ");
}

}  // namespace

void format_vmcs_line(char* buf, VmcsField f, uint64_t value) {
  Line l{buf};
  begin_line(l, f);
  l.hex(value, vmcs_width_bits(vmcs_field_width(f)) / 4);
}

size_t dump_vmcs(VmcsAccess& vmcs, DumpSink sink, void* sink_ctx, const DumpOptions& options) {
  size_t lines = 0;
  char buf[kDumpLineMax];
  for (VmcsField f : kVmcsFields) {
    if (options.supported && !options.supported(options.supported_ctx, f)) continue;
    uint64_t value = 0;
    if (vmcs.try_read(f, &value)) {
      format_vmcs_line(buf, f, value);
    } else {
      if (options.skip_unreadable) continue;
      Line l{buf};
      begin_line(l, f);
      l.put("<vmread failed>");
    }
    sink(sink_ctx, buf);
    ++lines;
  }
  return lines;
}

size_t dump_gprs(const GprFile& regs, bool egprs, DumpSink sink, void* sink_ctx) {
  constexpr unsigned kPerLine = 4;
  const unsigned count = egprs ? arch::kGprCount : arch::kLegacyGprCount;
  size_t lines = 0;
  char buf[kDumpLineMax];
  Line l{buf};
  buf[0] = '\0';
  unsigned on_line = 0;
  for (unsigned n = 0; n < count; ++n) {
    if (n == static_cast<unsigned>(arch::Gpr::rsp)) continue;
    if (on_line) l.put(' ');
    l.put(arch::gpr_name(n, arch::GprWidth::b64));
    l.put('=');
    l.hex(regs.gpr[n], 16);
    ++on_line;
    // A line ends at every fourth register number, so R16..R31 start their own lines.
    if ((n + 1) % kPerLine == 0) {
      sink(sink_ctx, buf);
      ++lines;
      l.len = 0;
      buf[0] = '\0';
      on_line = 0;
    }
  }
  return lines;
}

}  // namespace vmx
