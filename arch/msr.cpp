#include "arch/msr.hpp"

namespace arch {

const char* msr_name(uint32_t number) {
  switch (number) {
#define MSR(name, num) \
  case num: return #name;
#include "arch/msr_table.def"
#undef MSR
  }
  return nullptr;
}

}  // namespace arch
