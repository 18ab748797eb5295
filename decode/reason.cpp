#include "decode/reason.hpp"

namespace decode {
namespace {

struct ReasonRow {
  Fault fault;
  const char* tag;
  const char* text;
  const char* id;
};

constexpr ReasonRow kReasons[] = {
#define DECODE_REASON(id, fault, tag, text) {Fault::fault, tag, text, #id},
#include "decode/reason_table.def"
#undef DECODE_REASON
};
constexpr unsigned kReasonCount = sizeof(kReasons) / sizeof(kReasons[0]);

const ReasonRow& row(Reason r) {
  const unsigned i = static_cast<unsigned>(r);
  return kReasons[i < kReasonCount ? i : static_cast<unsigned>(Reason::internal)];
}

}  // namespace

Fault reason_fault(Reason r) { return row(r).fault; }
const char* reason_tag(Reason r) { return row(r).tag; }
const char* reason_text(Reason r) { return row(r).text; }
const char* reason_id(Reason r) { return row(r).id; }

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "none";
    case Fault::ud: return "ud";
    case Fault::gp: return "gp";
    case Fault::truncated: return "truncated";
  }
  return "?";
}

}  // namespace decode
