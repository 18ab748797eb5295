// Exit qualifications for MOV CR, MOV DR, I/O and APIC access (SDM 28.2.1), legacy and APX forms.
#include "vmx/exit_qualification.hpp"

#include <catch.hpp>
#include <string>

using namespace vmx;

TEST_CASE("MOV CR: CR number, access type, every GPR in both forms") {
  for (uint8_t cr : {0, 3, 4, 8}) {
    for (unsigned type : {0u, 1u}) {
      for (unsigned gpr = 0; gpr < 32; ++gpr) {
        const uint64_t q = cr | (type << 4) | (uint64_t(gpr) << 8);
        CAPTURE(cr, type, gpr);
        const MovCrQualification ext = decode_mov_cr(q, ExitInfoForm::extended);
        CHECK(ext.cr == cr);
        CHECK(ext.access == static_cast<CrAccessType>(type));
        CHECK(ext.gpr == gpr);
        // Legacy: bits 11:8 only; bit 12 is not part of the field on a non-APX host.
        const MovCrQualification leg = decode_mov_cr(q, ExitInfoForm::legacy);
        CHECK(leg.cr == cr);
        CHECK(leg.gpr == (gpr & 15));
      }
    }
  }
}

TEST_CASE("MOV CR: CLTS and LMSW") {
  struct Row {
    uint64_t q;
    CrAccessType t;
    bool mem;
    uint16_t src;
  };
  const Row rows[] = {
      {0x0000'0020, CrAccessType::clts, false, 0},
      {0x0001'0030, CrAccessType::lmsw, false, 0x0001},  // lmsw %ax with ax = 1
      {0xfff1'0070, CrAccessType::lmsw, true, 0xfff1},   // lmsw (mem)
  };
  for (const Row& r : rows) {
    for (ExitInfoForm form : {ExitInfoForm::legacy, ExitInfoForm::extended}) {
      CAPTURE(r.q);
      const MovCrQualification m = decode_mov_cr(r.q, form);
      CHECK(m.cr == 0);
      CHECK(m.access == r.t);
      CHECK(m.lmsw_memory == r.mem);
      CHECK(m.lmsw_source == r.src);
      CHECK(m.gpr == 0);
    }
  }
}

TEST_CASE("MOV DR: DR number, direction, GPR (bits 12:8 with APX, see header)") {
  for (uint8_t dr = 0; dr < 8; ++dr) {
    for (unsigned dir : {0u, 1u}) {
      for (unsigned gpr = 0; gpr < 32; ++gpr) {
        const uint64_t q = dr | (dir << 4) | (uint64_t(gpr) << 8);
        CAPTURE(dr, dir, gpr);
        const MovDrQualification ext = decode_mov_dr(q, ExitInfoForm::extended);
        CHECK(ext.dr == dr);
        CHECK(ext.from_dr == (dir == 1));
        CHECK(ext.gpr == gpr);
        CHECK(decode_mov_dr(q, ExitInfoForm::legacy).gpr == (gpr & 15));
      }
    }
  }
}

TEST_CASE("I/O: size, direction, string, REP, immediate, port") {
  struct Row {
    uint64_t q;
    uint8_t size;
    bool in, str, rep, imm;
    uint16_t port;
  };
  const Row rows[] = {
      {0x0060'0048, 1, true, false, false, true, 0x60},     // in al, 0x60
      {0x03f8'0000, 1, false, false, false, false, 0x3f8},  // out dx, al (dx = 0x3f8)
      {0x0cf8'0003, 4, false, false, false, false, 0xcf8},  // out dx, eax
      {0x0cfc'0009, 2, true, false, false, false, 0xcfc},   // in ax, dx
      {0x01f0'0039, 2, true, true, true, false, 0x1f0},     // rep insw
      {0x03f8'0010, 1, false, true, false, false, 0x3f8},   // outsb
      {0xffff'004b, 4, true, false, false, true, 0xffff},   // in eax, imm (port field 16 bits)
      {0x0080'0002, 0, false, false, false, false, 0x80},   // size encoding 2 is not used
  };
  for (const Row& r : rows) {
    CAPTURE(r.q);
    const IoQualification io = decode_io(r.q);
    CHECK(io.size == r.size);
    CHECK(io.in == r.in);
    CHECK(io.string == r.str);
    CHECK(io.rep == r.rep);
    CHECK(io.immediate == r.imm);
    CHECK(io.port == r.port);
  }
}

TEST_CASE("APIC access: offset and every access type (SDM Table 28-6)") {
  struct Row {
    unsigned type;
    ApicAccessType expect;
  };
  const Row rows[] = {
      {0, ApicAccessType::linear_read},
      {1, ApicAccessType::linear_write},
      {2, ApicAccessType::linear_fetch},
      {3, ApicAccessType::linear_event_delivery},
      {10, ApicAccessType::physical_event_delivery},
      {15, ApicAccessType::physical_fetch_or_execution},
  };
  for (const Row& r : rows) {
    for (unsigned offset : {0x000u, 0x0a0u, 0x302u, 0xfffu}) {
      for (uint64_t async : {0ull, 1ull << 16}) {
        const uint64_t q = async | (uint64_t{r.type} << 12) | offset;
        CAPTURE(r.type, offset, q);
        const ApicAccessQualification a = decode_apic_access(q);
        CHECK(a.type == r.expect);
        CHECK(a.offset == offset);
      }
    }
  }
  for (unsigned type : {4u, 5u, 6u, 7u, 8u, 9u, 11u, 12u, 13u, 14u}) {
    CAPTURE(type);
    const ApicAccessQualification a = decode_apic_access((uint64_t{type} << 12) | 0x300);
    CHECK(a.type == ApicAccessType::other);
    CHECK(a.offset == 0x300);
  }
}

TEST_CASE("APIC access: every type has its own non-empty name") {
  const ApicAccessType types[] = {ApicAccessType::linear_read,
                                  ApicAccessType::linear_write,
                                  ApicAccessType::linear_fetch,
                                  ApicAccessType::linear_event_delivery,
                                  ApicAccessType::physical_event_delivery,
                                  ApicAccessType::physical_fetch_or_execution,
                                  ApicAccessType::other};
  for (ApicAccessType a : types) {
    CAPTURE(static_cast<unsigned>(a));
    REQUIRE(apic_access_type_name(a) != nullptr);
    const std::string name = apic_access_type_name(a);
    CHECK(!name.empty());
    for (ApicAccessType b : types)
      if (a != b) CHECK(name != std::string(apic_access_type_name(b)));
  }
  CHECK(std::string(apic_access_type_name(ApicAccessType::linear_fetch)) == "instruction fetch");
}
