// vmm/handlers/store32_at_rip: the MOV-store fast path of trapped local-APIC writes (and,
// at the end, the MOV-load fast path of APIC-access reads), over a
// FakeVmcs and guest memory with 4-level paging (FakePhys + PageTables): the value (GPRs,
// RSP from the VMCS, EGPRs, imm32), RIP by the decoded length, fetches across a page and
// CS base/EIP wrap in 32-bit mode, every fallback leaving the guest untouched, and the same
// end state as the general path (emulate_at_rip) for RFLAGS.RF/TF, RSP and the
// interruptibility state.
#include <string>
#include <vector>

#include "emulate/emulate_test_support.hpp"
#include "handler_fixture.hpp"
#include "vmm/handlers/emulate_at_rip.hpp"
#include "vmm/handlers/store32_at_rip.hpp"

using namespace vmm_test;
using arch::Gpr;
using emu_test::Bytes;
namespace pte = vmm::guest_memory::pte;

namespace {

constexpr uint64_t kCode = 0x400000;    // linear = guest-physical (identity-mapped)
constexpr uint64_t kApic = 0xFEE00000;  // the "APIC page": plain RAM here
constexpr uint64_t kTpr = kApic + 0x80;
constexpr uint64_t kRf = 1ull << 16;

// SDM Vol 3C Table 28-7: data write (1), readable (3), executable (5), linear address valid
// (7), the access was to the translated address (8).
constexpr uint64_t kWriteQual = (1u << 1) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8);

struct Rig {
  HandlerFixture f;
  emu_test::FakePhys phys;
  emu_test::PageTables pt{phys, emu_test::PageTables::Mode::level4};
  vmm::ExitAction action = vmm::ExitAction::stop("not run");

  Rig() {
    pt.map(kCode, kCode, pte::P | pte::RW);
    pt.map(kCode + 0x1000, kCode + 0x1000, pte::P | pte::RW);
    pt.map(kApic, kApic, pte::P | pte::RW | pte::PCD);
    phys.map_ram(kApic, 0x1000);
    phys.poke32(kTpr, 0x5A5A5A5A);
    f.vmcs.set(VmcsField::guest_cr3, pt.cr3());
    f.vmcs.set(VmcsField::exit_qualification, kWriteQual);
    f.vmcs.set(VmcsField::guest_rsp, 0x7FF0);
    f.set_flat_segments();
    // The address register of every row's store.
    f.gpr(Gpr::rax) = kTpr;
    f.gpr(Gpr::r11) = kTpr;
  }

  // The guest at `rip` executes `code` (at guest-physical `code_at`, default `rip`: linear =
  // physical), whose store the EPT refused at `gpa`.
  bool fast(const Bytes& code, uint64_t gpa = kTpr, uint64_t rip = kCode, uint64_t code_at = ~0ull) {
    setup(code, gpa, rip, code_at);
    return vmm::store32_at_rip(f.ctx, phys, gpa, &action);
  }
  // The same for a read at `gpa` (an APIC-access exit): the MOV-load fast path.
  bool fast_load(const Bytes& code, uint64_t gpa = kTpr) {
    setup(code, gpa, kCode);
    return vmm::load32_at_rip(f.ctx, phys, gpa, &action);
  }
  vmm::ExitAction general(const Bytes& code, uint64_t gpa = kTpr, uint64_t rip = kCode) {
    setup(code, gpa, rip);
    bool unsupported = false;
    vmm::ExitAction a = vmm::emulate_at_rip(f.ctx, phys, nullptr, &unsupported);
    REQUIRE_FALSE(unsupported);
    return a;
  }
  void setup(const Bytes& code, uint64_t gpa, uint64_t rip, uint64_t code_at = ~0ull) {
    phys.poke(code_at == ~0ull ? rip : code_at, code.data(), code.size());
    f.vmcs.set(VmcsField::guest_rip, rip);
    f.vmcs.set(VmcsField::guest_physical_address, gpa);
    f.vmcs.set(VmcsField::guest_linear_address, gpa);
  }
  uint32_t tpr() const { return static_cast<uint32_t>(phys.peek(kTpr, 4)); }
  uint64_t rip() const { return f.vmcs.get(VmcsField::guest_rip); }
};

// `code` through the fast path (the load's with `load`, else the store's) and through the
// general path (emulate_at_rip) from the same state, for RF, TF and the STI/MOV-SS blocking
// bits at the exit: the same action, VMCS fields, memory and registers afterwards.
// `cached`: the load's rig has read at the same RIP once before, so the second read comes from
// the vCPU's decode cache (rip_decode_cache.hpp), which retires the instruction itself.
void check_same_end_as_general(const Bytes& code, bool load, bool cached = false) {
  const uint64_t rflags[] = {arch::rflags::FIXED1, arch::rflags::FIXED1 | kRf | (1u << 9),
                             arch::rflags::FIXED1 | arch::rflags::TF | (1u << 9)};
  const VmcsField compared[] = {VmcsField::guest_rip, VmcsField::guest_rflags, VmcsField::guest_rsp,
                                VmcsField::guest_interruptibility_state, VmcsField::guest_pending_debug_exceptions,
                                VmcsField::vm_entry_interruption_info, VmcsField::vm_entry_instruction_length};
  for (uint64_t fl : rflags)
    for (uint64_t intr : {0ull, 1ull, 2ull}) {
      INFO("code " << Catch::Detail::stringify(code) << ", rflags " << fl << ", interruptibility " << intr);
      Rig fast, general;
      for (Rig* r : {&fast, &general}) {
        r->f.gpr(Gpr::rax) = kTpr;
        r->f.gpr(Gpr::r11) = kTpr;
        r->f.vmcs.set(VmcsField::guest_rsp, 0xFFFF8000DEADBEEF);
        r->f.vmcs.set(VmcsField::guest_rflags, fl);
        r->f.vmcs.set(VmcsField::guest_interruptibility_state, intr);
      }
      if (cached) {
        REQUIRE(fast.fast_load(code));
        REQUIRE(fast.f.vcpu.rip_cache.valid);
        fast.f.gpr(Gpr::rax) = kTpr;
        fast.f.gpr(Gpr::r11) = kTpr;
        fast.f.vmcs.set(VmcsField::guest_rsp, 0xFFFF8000DEADBEEF);
        fast.f.vmcs.set(VmcsField::guest_rflags, fl);
        fast.f.vmcs.set(VmcsField::guest_interruptibility_state, intr);
        fast.f.vmcs.set(VmcsField::guest_pending_debug_exceptions, 0);
        fast.f.vmcs.forget_writes();
      }
      const unsigned walks_before = fast.phys.reads;
      REQUIRE((load ? fast.fast_load(code) : fast.fast(code)));
      if (cached) CHECK(fast.phys.reads == walks_before + 1);  // a hit: only the register was read
      const vmm::ExitAction g = general.general(code);
      CHECK(outcome_of(fast.action) == outcome_of(g));
      // What the dispatcher then does with either action (vmm/exit_dispatch.hpp).
      CHECK(vmm::apply_exit_action(fast.f.ctx, fast.action) == vmm::apply_exit_action(general.f.ctx, g));
      for (VmcsField field : compared) {
        INFO("field " << vmx::vmcs_field_name(field));
        CHECK(fast.f.vmcs.get(field) == general.f.vmcs.get(field));
        // A cache hit retires as an `advance` does: RFLAGS only when RF changes, RSP only as the
        // destination (the emulator writes both back whatever they hold); the values are the same.
        const bool rewrite_only = cached && (field == VmcsField::guest_rflags || field == VmcsField::guest_rsp);
        if (!rewrite_only) CHECK(fast.f.vmcs.written(field) == general.f.vmcs.written(field));
      }
      CHECK(fast.tpr() == general.tpr());
      CHECK((fast.tpr() != 0x5A5A5A5A) == !load);  // a store changed the register, a load did not
      for (unsigned i = 0; i < 32; ++i) {
        INFO("gpr " << i);
        CHECK(fast.f.vcpu.regs.gpr[i] == general.f.vcpu.regs.gpr[i]);
      }
      CHECK(fast.f.vcpu.pending.has(vmm::pending::cr2) == general.f.vcpu.pending.has(vmm::pending::cr2));
    }
}

}  // namespace

TEST_CASE("store32_at_rip: the value, and RIP by the decoded length", "[vmm][store32]") {
  struct Row {
    const char* what;
    Bytes code;
    unsigned length;
    uint32_t stored;
  };
  const Row rows[] = {
      {"mov [r11], eax (REX.B)", {0x41, 0x89, 0x03}, 3, 0x12345678},
      {"mov [r11], ecx", {0x41, 0x89, 0x0B}, 3, 0x9ABCDEF0},
      {"mov [r11], r9d (REX.R+B)", {0x45, 0x89, 0x0B}, 3, 0x0000C0DE},
      {"mov [r11], esp: RSP from GUEST_RSP, not gpr[4]", {0x41, 0x89, 0x23}, 3, 0x00ABCDEF},
      {"mov [rdx+0x40], ebx: disp8", {0x89, 0x5A, 0x40}, 3, 0x31415926},
      {"mov dword [r11], imm32", {0x41, 0xC7, 0x03, 0x10, 0x00, 0x00, 0x00}, 7, 0x10},
      {"mov dword [0xfee00080], imm32 (SIB, disp32)",
       {0xC7, 0x04, 0x25, 0x80, 0x00, 0xE0, 0xFE, 0xEF, 0xBE, 0xAD, 0xDE}, 11, 0xDEADBEEF},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Rig rig;
    rig.f.gpr(Gpr::rax) = 0xCAFEF00D12345678;
    rig.f.gpr(Gpr::rbx) = 0x31415926;
    rig.f.gpr(Gpr::rcx) = 0xFFFFFFFF9ABCDEF0;
    rig.f.gpr(Gpr::rdx) = kTpr - 0x40;
    rig.f.gpr(Gpr::r9) = 0x000000000000C0DE;
    rig.f.gpr(Gpr::rsp) = 0x1111111111111111;  // stale: RSP lives in the VMCS
    rig.f.vmcs.set(VmcsField::guest_rsp, 0xFFFF800000ABCDEF);
    rig.f.vmcs.set(VmcsField::guest_rflags, arch::rflags::FIXED1 | kRf | (1u << 9));
    REQUIRE(rig.fast(r.code));
    CHECK(outcome_of(rig.action) == Outcome::resume);
    CHECK(rig.tpr() == r.stored);
    CHECK(rig.rip() == kCode + r.length);
    CHECK(rig.f.vmcs.get(VmcsField::guest_rflags) == (arch::rflags::FIXED1 | (1u << 9)));  // RF cleared, IF kept
    CHECK(rig.f.vmcs.get(VmcsField::guest_rsp) == 0xFFFF800000ABCDEF);
    CHECK_FALSE(rig.f.vmcs.written(VmcsField::vm_entry_interruption_info));
  }
}

TEST_CASE("store32_at_rip: REX2 sources R16-R31 only with the guest's APX on", "[vmm][store32][apx]") {
  Rig rig;
  rig.f.vcpu.regs.gpr[31] = 0x00000000F00DFACE;
  rig.f.vcpu.regs.gpr[17] = 0x0000000011112222;
  rig.f.vcpu.xstate.save_egprs = true;
  REQUIRE(rig.fast({0xD5, 0x44, 0x89, 0x38}));  // mov [rax], r31d
  CHECK(rig.tpr() == 0xF00DFACE);
  CHECK(rig.rip() == kCode + 4);
  REQUIRE(rig.fast({0xD5, 0x41, 0x89, 0x0B}));  // mov [r11], r17d (REX2.R4 + B3)
  CHECK(rig.tpr() == 0x11112222);

  Rig off;
  off.f.vcpu.xstate.save_egprs = false;
  off.f.vcpu.regs.gpr[31] = 1;
  CHECK_FALSE(off.fast({0xD5, 0x44, 0x89, 0x38}));
  CHECK(off.tpr() == 0x5A5A5A5A);
  CHECK(off.f.vmcs.writes() == 0);
}

// REX2 needs CR4.OSXSAVE too (issue P11): a guest that keeps XCR0.APX but clears OSXSAVE
// loses APX, as on hardware and under KVM; D5 is then not a prefix and the emulator answers #UD.
TEST_CASE("REX2 with the guest's XCR0.APX set but CR4.OSXSAVE clear: declined, and the general path gives #UD",
          "[vmm][store32][apx]") {
  Rig fast;
  fast.f.vcpu.xstate.save_egprs = true;
  fast.f.set_cr4(fast.f.vmcs.get(VmcsField::cr4_read_shadow) & ~arch::cr4::OSXSAVE);
  fast.f.vcpu.regs.gpr[31] = 1;
  CHECK_FALSE(fast.fast({0xD5, 0x44, 0x89, 0x38}));  // mov [rax], r31d
  CHECK(fast.tpr() == 0x5A5A5A5A);

  Rig general;
  general.f.vcpu.xstate.save_egprs = true;
  general.f.set_cr4(general.f.vmcs.get(VmcsField::cr4_read_shadow) & ~arch::cr4::OSXSAVE);
  general.setup({0xD5, 0x44, 0x89, 0x38}, kTpr, kCode);
  bool unsupported = false;
  const vmm::ExitAction a = vmm::emulate_at_rip(general.f.ctx, general.phys, nullptr, &unsupported);
  CHECK_FALSE(unsupported);
  CHECK(outcome_of(a) == Outcome::ud);
  CHECK(general.tpr() == 0x5A5A5A5A);
}

TEST_CASE("store32_at_rip: an instruction across a page boundary", "[vmm][store32]") {
  Rig rig;
  rig.f.gpr(Gpr::rax) = 0x77;
  // C7 04 25 disp32 imm32 at the last 3 bytes of the first code page.
  REQUIRE(rig.fast({0xC7, 0x04, 0x25, 0x80, 0x00, 0xE0, 0xFE, 0x01, 0x02, 0x03, 0x04}, kTpr, kCode + 0xFFD));
  CHECK(rig.tpr() == 0x04030201);
  CHECK(rig.rip() == kCode + 0xFFD + 11);

  // The next page not mapped: the fetch faults, the general path will raise the #PF.
  Rig unmapped;
  unmapped.pt.map(kCode + 0x1000, kCode + 0x1000, 0);
  CHECK_FALSE(unmapped.fast({0x41, 0x89, 0x03}, kTpr, kCode + 0xFFE));
  CHECK(unmapped.tpr() == 0x5A5A5A5A);
  CHECK(unmapped.f.vmcs.writes() == 0);
  // A 2-byte store that ends on the first page needs nothing from the second.
  CHECK(unmapped.fast({0x89, 0x08}, kTpr, kCode + 0xFFE));
}

TEST_CASE("store32_at_rip: 32-bit protected mode (CS base, EIP wrap)", "[vmm][store32]") {
  Rig rig;
  rig.f.set_mode(Mode::prot32_unpaged);  // linear = physical
  rig.f.gpr(Gpr::rcx) = 0xAAAABBBB;
  rig.f.vmcs.set(VmcsField::guest_cs_base, 0x10000);
  rig.phys.map_ram(0x11000, 0x1000);
  // mov [0xfee00080], ecx at EIP 0x1000, fetched from CS.base + EIP
  REQUIRE(rig.fast({0x89, 0x0D, 0x80, 0x00, 0xE0, 0xFE}, kTpr, 0x1000, 0x11000));
  CHECK(rig.tpr() == 0xAAAABBBB);
  CHECK(rig.rip() == 0x1006);
  // Not from EIP itself: 8B there (a load) would make it decline.
  rig.phys.poke(0x1000, "\x8b\x0d", 2);
  REQUIRE(rig.fast({0x89, 0x0D, 0x80, 0x00, 0xE0, 0xFE}, kTpr, 0x1000, 0x11000));

  Rig wrap;
  wrap.f.set_mode(Mode::prot32_unpaged);
  wrap.f.gpr(Gpr::rcx) = 0x1234;
  wrap.phys.map_ram(0xFFFFF000, 0x1000);
  REQUIRE(wrap.fast({0x89, 0x08}, kTpr, 0xFFFFFFFE));  // the last two bytes below 4 GiB
  CHECK(wrap.tpr() == 0x1234);
  CHECK(wrap.rip() == 0);  // EIP wraps (SDM Vol 1 3.5)
  // One more byte would cross the CS limit (#GP in the guest): not the fast path's.
  CHECK_FALSE(wrap.fast({0x89, 0x48, 0x00}, kTpr, 0xFFFFFFFE));
}

TEST_CASE("store32_at_rip: everything else falls back with the guest untouched", "[vmm][store32]") {
  struct Row {
    const char* what;
    Bytes code;
    uint64_t gpa;
    uint64_t qualification;
    Mode mode;
  };
  const Row rows[] = {
      {"a 16-bit store (66)", {0x66, 0x89, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"a 64-bit store (REX.W)", {0x48, 0x89, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"a GS-relative store", {0x65, 0x89, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"an 8-bit store", {0x88, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"a read-modify-write (ADD)", {0x01, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"XCHG", {0x87, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"REX2 with the guest's APX off", {0xD5, 0x00, 0x89, 0x00}, kTpr, kWriteQual, Mode::long64},
      {"a misaligned address", {0x89, 0x00}, kTpr + 2, kWriteQual, Mode::long64},
      {"a paging-structure update (qualification bit 8 clear)", {0x89, 0x00}, kTpr, kWriteQual & ~(1ull << 8),
       Mode::long64},
      {"no guest-linear address (bit 7 clear)", {0x89, 0x00}, kTpr, kWriteQual & ~(3ull << 7), Mode::long64},
      {"not a write (bit 1 clear)", {0x89, 0x00}, kTpr, kWriteQual & ~(1ull << 1), Mode::long64},
      {"real mode", {0x89, 0x00}, kTpr, kWriteQual, Mode::real},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Rig rig;
    rig.f.set_mode(r.mode);
    rig.f.vmcs.set(VmcsField::exit_qualification, r.qualification);
    CHECK_FALSE(rig.fast(r.code, r.gpa, r.mode == Mode::real ? 0x7000 : kCode));
    CHECK(rig.tpr() == 0x5A5A5A5A);
    CHECK(rig.phys.peek(kTpr + 2, 4) == 0x00005A5A);
    CHECK(rig.f.vmcs.writes() == 0);
  }
  // Real mode with a 32-bit CS in the descriptor cache (D=1): still not protected mode.
  Rig big_real;
  big_real.f.set_mode(Mode::real);
  big_real.f.vmcs.set(VmcsField::guest_cs_access_rights, 0x409B);
  big_real.phys.map_ram(0x7000, 0x1000);
  CHECK_FALSE(big_real.fast({0x89, 0x00}, kTpr, 0x7000));
  CHECK(big_real.tpr() == 0x5A5A5A5A);
  CHECK(big_real.f.vmcs.writes() == 0);
  // The code page not present: no fetch, no guess.
  Rig unmapped;
  unmapped.pt.map(kCode, kCode, 0);
  CHECK_FALSE(unmapped.fast({0x89, 0x00}));
  CHECK(unmapped.f.vmcs.writes() == 0);
}

TEST_CASE("store32_at_rip: ends the instruction exactly as the general path does", "[vmm][store32]") {
  // mov [r11], eax; mov [rax], esp; mov dword [rax], imm32; mov [rax], r11d
  const Bytes codes[] = {{0x41, 0x89, 0x03}, {0x89, 0x20}, {0xC7, 0x00, 0x44, 0x33, 0x22, 0x11}, {0x44, 0x89, 0x18}};
  for (const Bytes& code : codes) check_same_end_as_general(code, false);
}

TEST_CASE("load32_at_rip: the register gets the 32-bit value, zero-extended; RIP by the decoded length", "[vmm][store32]") {
  struct Row {
    const char* what;
    Bytes code;
    unsigned length;
    unsigned reg;
  };
  const Row rows[] = {
      {"mov eax, [r11] (REX.B)", {0x41, 0x8B, 0x03}, 3, 0},
      {"mov r9d, [r11] (REX.R+B)", {0x45, 0x8B, 0x0B}, 3, 9},
      {"mov edx, [rax+0x0]: disp8", {0x8B, 0x50, 0x00}, 3, 2},
      {"mov ecx, [0xfee00080]: SIB, disp32", {0x8B, 0x0C, 0x25, 0x80, 0x00, 0xE0, 0xFE}, 7, 1},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    Rig rig;
    for (unsigned i : {1u, 2u, 9u}) rig.f.vcpu.regs.gpr[i] = ~0ull;  // upper halves must be cleared
    rig.f.gpr(Gpr::rax) = kTpr;
    rig.f.gpr(Gpr::r11) = kTpr;
    REQUIRE(rig.fast_load(r.code));
    CHECK(outcome_of(rig.action) == Outcome::resume);
    CHECK(rig.f.vcpu.regs.gpr[r.reg] == 0x5A5A5A5A);
    CHECK(rig.rip() == kCode + r.length);
    CHECK(rig.tpr() == 0x5A5A5A5A);  // a read changes nothing in memory
  }
}

TEST_CASE("load32_at_rip: the decode cache answers a repeated read, never a changed mapping or changed code",
          "[vmm][store32]") {
  const Bytes ecx_load = {0x8B, 0x08};  // mov ecx, [rax]
  const Bytes edx_load = {0x8B, 0x10};  // mov edx, [rax]
  Rig rig;
  rig.f.gpr(Gpr::rax) = kTpr;
  REQUIRE(rig.fast_load(ecx_load));
  REQUIRE(rig.f.vcpu.regs.gpr[1] == 0x5A5A5A5A);
  REQUIRE(rig.f.vcpu.rip_cache.valid);  // 64-bit code under 4-level paging: cached
  // The same exit once more, at the same RIP: the value lands in register `reg`.
  auto again = [&](unsigned reg) {
    rig.f.vcpu.regs.gpr[1] = rig.f.vcpu.regs.gpr[2] = 0;
    rig.f.vmcs.set(VmcsField::guest_rip, kCode);
    REQUIRE(vmm::load32_at_rip(rig.f.ctx, rig.phys, kTpr, &rig.action));
    CHECK(outcome_of(rig.action) == Outcome::resume);
    CHECK(rig.f.vcpu.regs.gpr[reg] == 0x5A5A5A5A);
    CHECK(rig.f.vcpu.regs.gpr[reg == 1 ? 2 : 1] == 0);
    CHECK(rig.rip() == kCode + 2);
  };
  SECTION("a hit: no page walk, no fetch; only the register is read") {
    const unsigned reads = rig.phys.reads;
    again(1);
    CHECK(rig.phys.reads == reads + 1);
  }
  SECTION("the code's page mapped elsewhere (PTE rewritten, CR3 the same): the instruction there") {
    rig.phys.poke(0x500000, edx_load.data(), edx_load.size());
    rig.pt.map(kCode, 0x500000, pte::P | pte::RW);
    again(2);
    again(2);  // and cached from there on
  }
  SECTION("the bytes rewritten in place: the new instruction") {
    rig.phys.poke(kCode, edx_load.data(), edx_load.size());
    again(2);
  }
  SECTION("another RIP: decoded afresh") {
    rig.phys.poke(kCode + 0x10, edx_load.data(), edx_load.size());
    rig.f.vmcs.set(VmcsField::guest_rip, kCode + 0x10);
    REQUIRE(vmm::load32_at_rip(rig.f.ctx, rig.phys, kTpr, &rig.action));
    CHECK(rig.f.vcpu.regs.gpr[2] == 0x5A5A5A5A);
  }
  SECTION("CPL 3 after a CPL 0 read (SS.DPL): a miss, and the user-mode fetch of a supervisor page fails") {
    rig.f.vmcs.set(VmcsField::guest_ss_access_rights, rig.f.vmcs.get(VmcsField::guest_ss_access_rights) | (3u << 5));
    rig.f.vmcs.set(VmcsField::guest_rip, kCode);
    CHECK_FALSE(vmm::load32_at_rip(rig.f.ctx, rig.phys, kTpr, &rig.action));
  }
  SECTION("compatibility mode after a 64-bit read (CS.L clear): a miss, decoded as 32-bit code") {
    rig.f.vmcs.set(VmcsField::guest_cs_access_rights,
                   (rig.f.vmcs.get(VmcsField::guest_cs_access_rights) & ~(1u << 13)) | (1u << 14));
    again(1);
    CHECK_FALSE(rig.f.vcpu.rip_cache.valid);
  }
  SECTION("CR0, CR4 or EFER changed: a miss, decoded and cached afresh") {
    const VmcsField fields[] = {VmcsField::guest_cr0, VmcsField::guest_cr4, VmcsField::guest_ia32_efer};
    for (VmcsField field : fields) {
      INFO(vmx::vmcs_field_name(field));
      const uint64_t was = rig.f.vmcs.get(field);
      rig.f.vmcs.set(field, was ^ (field == VmcsField::guest_ia32_efer ? arch::efer::NXE : arch::cr0::WP));
      const unsigned reads = rig.phys.reads;
      again(1);
      CHECK(rig.phys.reads > reads + 1);  // walked and fetched again
      rig.f.vmcs.set(field, was);
      again(1);
    }
  }
  SECTION("32-bit code: never cached") {
    rig.f.vcpu.rip_cache.valid = false;
    rig.f.vmcs.set(VmcsField::guest_cs_access_rights, rig.f.vmcs.get(VmcsField::guest_cs_access_rights) & ~(1u << 13));
    rig.f.vmcs.set(VmcsField::guest_cs_access_rights, rig.f.vmcs.get(VmcsField::guest_cs_access_rights) | (1u << 14));
    rig.f.vmcs.set(VmcsField::guest_rip, kCode);
    REQUIRE(vmm::load32_at_rip(rig.f.ctx, rig.phys, kTpr, &rig.action));
    CHECK(rig.f.vcpu.regs.gpr[1] == 0x5A5A5A5A);
    CHECK_FALSE(rig.f.vcpu.rip_cache.valid);
  }
}

TEST_CASE("load32_at_rip: ESP goes to GUEST_RSP, R16-R31 only with APX, everything else falls back", "[vmm][store32]") {
  Rig rsp;
  REQUIRE(rsp.fast_load({0x41, 0x8B, 0x23}));  // mov esp, [r11]
  CHECK(rsp.f.vmcs.get(VmcsField::guest_rsp) == 0x5A5A5A5A);

  Rig apx;
  apx.f.vcpu.xstate.save_egprs = true;
  REQUIRE(apx.fast_load({0xD5, 0x40, 0x8B, 0x00}));  // mov r16d, [rax]
  CHECK(apx.f.vcpu.regs.gpr[16] == 0x5A5A5A5A);
  Rig no_apx;
  CHECK_FALSE(no_apx.fast_load({0xD5, 0x40, 0x8B, 0x00}));

  const Bytes declined[] = {
      {0x41, 0x89, 0x03},  // a store
      {0x48, 0x8B, 0x00},  // mov rax, [rax]: 64-bit
      {0x66, 0x8B, 0x00},  // mov ax, [rax]: 16-bit operand
      {0x41, 0x03, 0x03},  // add eax, [r11]
  };
  for (const Bytes& code : declined) {
    INFO(Catch::Detail::stringify(code));
    Rig rig;
    rig.f.gpr(Gpr::rax) = kTpr;
    CHECK_FALSE(rig.fast_load(code));
    CHECK(rig.f.vmcs.writes() == 0);
    CHECK(rig.f.vcpu.regs.gpr[0] == kTpr);
  }
  Rig misaligned;
  CHECK_FALSE(misaligned.fast_load({0x41, 0x8B, 0x03}, kTpr + 2));
  CHECK(misaligned.f.vmcs.writes() == 0);
}

TEST_CASE("load32_at_rip: ends the instruction exactly as the general path does", "[vmm][store32]") {
  const Bytes codes[] = {{0x41, 0x8B, 0x03}, {0x8B, 0x20}, {0x44, 0x8B, 0x18}};  // eax, esp, r11d
  for (const Bytes& code : codes) check_same_end_as_general(code, true);
}

TEST_CASE("load32_at_rip: a cache hit ends the instruction exactly as the general path does", "[vmm][store32]") {
  const Bytes codes[] = {{0x41, 0x8B, 0x03}, {0x8B, 0x20}, {0x44, 0x8B, 0x18}};  // eax, esp, r11d
  for (const Bytes& code : codes) check_same_end_as_general(code, true, true);
}
