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

}  // namespace vmx
