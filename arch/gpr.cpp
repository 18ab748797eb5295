#include "arch/gpr.hpp"

namespace arch {
namespace {
#define GPR_ANY(n, q, d, w, b) #q,
constexpr const char* kNames64[kGprCount] = {
#include "arch/gpr_table.def"
};
#undef GPR_ANY
#define GPR_ANY(n, q, d, w, b) #d,
constexpr const char* kNames32[kGprCount] = {
#include "arch/gpr_table.def"
};
#undef GPR_ANY
#define GPR_ANY(n, q, d, w, b) #w,
constexpr const char* kNames16[kGprCount] = {
#include "arch/gpr_table.def"
};
#undef GPR_ANY
#define GPR_ANY(n, q, d, w, b) #b,
constexpr const char* kNames8[kGprCount] = {
#include "arch/gpr_table.def"
};
#undef GPR_ANY
}  // namespace

const char* gpr_name(unsigned n, GprWidth width) {
  if (n >= kGprCount) return "?";
  switch (width) {
    case GprWidth::b8: return kNames8[n];
    case GprWidth::b16: return kNames16[n];
    case GprWidth::b32: return kNames32[n];
    case GprWidth::b64: return kNames64[n];
  }
  return "?";
}

}  // namespace arch
