#include "vmx/exit_qualification.hpp"

namespace vmx {
namespace {
// The GPR field starting at bit 8: 4 bits legacy, 5 bits when APX is enumerated.
constexpr uint8_t gpr_at_bit8(uint64_t q, ExitInfoForm form) { return mov_cr_gpr(q, form); }
}  // namespace

MovCrQualification decode_mov_cr(uint64_t q, ExitInfoForm form) {
  MovCrQualification r{};
  r.cr = static_cast<uint8_t>(q & 0xf);
  r.access = static_cast<CrAccessType>((q >> 4) & 3);
  if (r.access == CrAccessType::mov_to_cr || r.access == CrAccessType::mov_from_cr) {
    r.gpr = gpr_at_bit8(q, form);
  } else if (r.access == CrAccessType::lmsw) {
    r.lmsw_memory = (q >> 6) & 1;
    r.lmsw_source = static_cast<uint16_t>(q >> 16);
  }
  return r;
}

MovDrQualification decode_mov_dr(uint64_t q, ExitInfoForm form) {
  MovDrQualification r{};
  r.dr = static_cast<uint8_t>(q & 7);
  r.from_dr = (q >> 4) & 1;
  r.gpr = gpr_at_bit8(q, form);
  return r;
}

IoQualification decode_io(uint64_t q) {
  IoQualification r{};
  switch (q & 7) {
    case 0: r.size = 1; break;
    case 1: r.size = 2; break;
    case 3: r.size = 4; break;
    default: r.size = 0; break;
  }
  r.in = (q >> 3) & 1;
  r.string = (q >> 4) & 1;
  r.rep = (q >> 5) & 1;
  r.immediate = (q >> 6) & 1;
  r.port = static_cast<uint16_t>(q >> 16);
  return r;
}

ApicAccessQualification decode_apic_access(uint64_t q) {
  ApicAccessQualification r{};
  r.offset = static_cast<unsigned>(q & 0xfff);
  switch ((q >> 12) & 0xf) {
    case 0: r.type = ApicAccessType::linear_read; break;
    case 1: r.type = ApicAccessType::linear_write; break;
    case 2: r.type = ApicAccessType::linear_fetch; break;
    case 3: r.type = ApicAccessType::linear_event_delivery; break;
    case 10: r.type = ApicAccessType::physical_event_delivery; break;
    case 15: r.type = ApicAccessType::physical_fetch_or_execution; break;
    default: r.type = ApicAccessType::other; break;
  }
  return r;
}

const char* apic_access_type_name(ApicAccessType t) {
  switch (t) {
    case ApicAccessType::linear_read: return "data read";
    case ApicAccessType::linear_write: return "data write";
    case ApicAccessType::linear_fetch: return "instruction fetch";
    case ApicAccessType::linear_event_delivery: return "access during event delivery";
    case ApicAccessType::physical_event_delivery: return "guest-physical access during event delivery";
    case ApicAccessType::physical_fetch_or_execution: return "guest-physical access (fetch or paging structure)";
    case ApicAccessType::other: break;
  }
  return "access of a reserved type";
}

}  // namespace vmx
