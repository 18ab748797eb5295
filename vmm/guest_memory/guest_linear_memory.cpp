#include "vmm/guest_memory/guest_linear_memory.hpp"

#include "arch/cr_bits.hpp"
#include "arch/little_endian.hpp"

namespace vmm::guest_memory {

namespace {

MemStatus bad_gpa(uint64_t gpa) { return {MemOutcome::bad_gpa, 0, gpa}; }

}  // namespace

MemStatus status_of(const Translation& t, uint64_t linear) {
  switch (t.status) {
    case WalkStatus::ok: return MemStatus::success();
    case WalkStatus::page_fault: return {MemOutcome::page_fault, t.error_code, linear};
    case WalkStatus::bad_gpa: return bad_gpa(t.gpa);
    case WalkStatus::retry: break;
  }
  return {MemOutcome::retry, 0, 0};
}

uint64_t GuestLinearMemory::wrap(uint64_t linear) const {
  return (paging_.efer & arch::efer::LMA) ? linear : (linear & 0xFFFFFFFFull);
}

MemStatus GuestLinearMemory::write_chunk(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes) {
  if (!observer_) return phys_.write_at(linear, gpa, src, bytes) == PhysStatus::ok ? MemStatus::success() : bad_gpa(gpa);
  for (size_t off = 0; off < bytes; off += WriteRecord::kMaxBytes) {
    const size_t n = bytes - off < WriteRecord::kMaxBytes ? bytes - off : WriteRecord::kMaxBytes;
    WriteRecord rec{};
    rec.linear = wrap(linear + off);
    rec.gpa = gpa + off;
    rec.bytes = static_cast<uint8_t>(n);
    if (phys_.read(rec.gpa, rec.old_bytes, n) != PhysStatus::ok) return bad_gpa(rec.gpa);
    for (size_t i = 0; i < n; ++i) rec.new_bytes[i] = src[off + i];
    if (phys_.write_at(rec.linear, rec.gpa, src + off, n) != PhysStatus::ok) return bad_gpa(rec.gpa);
    observer_->on_write(rec);
  }
  return MemStatus::success();
}

MemStatus GuestLinearMemory::access(uint64_t linear, size_t bytes, Access acc, void* dst, const void* src) {
  if (bytes == 0) return MemStatus::success();
  linear = wrap(linear);
  auto* out = static_cast<uint8_t*>(dst);
  const auto* in = static_cast<const uint8_t*>(src);

  // A straddling access: check every page first (walk without A/D updates; a probe finds a
  // GPA that is not RAM, without touching a device page) so that nothing changes unless the
  // whole access can happen.
  const bool straddles = bytes_in_page(linear, bytes) < bytes;
  if (straddles) {
    for (size_t off = 0; off < bytes;) {
      const uint64_t lin = wrap(linear + off);
      const size_t n = bytes_in_page(lin, bytes - off);
      const Translation t = walk(phys_, lin, acc, paging_);
      if (!t.ok()) return status_of(t, lin);
      if (phys_.probe(t.gpa) != PhysStatus::ok) return bad_gpa(t.gpa);
      off += n;
    }
  }
  for (size_t off = 0; off < bytes;) {
    const uint64_t lin = wrap(linear + off);
    const size_t n = bytes_in_page(lin, bytes - off);
    const Translation t = guest_memory::translate(phys_, lin, acc, paging_);
    // (After the first pass this only fails if another vCPU changed the paging structures in
    // between: the access then stops where it is.)
    if (!t.ok()) return status_of(t, lin);
    if (src) {
      const MemStatus s = write_chunk(lin, t.gpa, in + off, n);
      if (!s.ok()) return s;
    } else if (phys_.read(t.gpa, out + off, n) != PhysStatus::ok) {
      return bad_gpa(t.gpa);
    }
    off += n;
  }
  return MemStatus::success();
}

MemStatus GuestLinearMemory::read(uint64_t linear, void* dst, size_t bytes, AccessType type) {
  return access(linear, bytes, Access{type, Privilege::from_cpl}, dst, nullptr);
}

MemStatus GuestLinearMemory::write(uint64_t linear, const void* src, size_t bytes) {
  return access(linear, bytes, Access{AccessType::write, Privilege::from_cpl}, nullptr, src);
}

MemStatus GuestLinearMemory::read(uint64_t linear, void* dst, size_t bytes, Access acc) {
  return access(linear, bytes, acc, dst, nullptr);
}

MemStatus GuestLinearMemory::write(uint64_t linear, const void* src, size_t bytes, Privilege privilege) {
  return access(linear, bytes, Access{AccessType::write, privilege}, nullptr, src);
}

MemStatus GuestLinearMemory::cmpxchg(uint64_t linear, unsigned bytes, uint64_t expected, uint64_t desired,
                                     uint64_t* observed) {
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8) return bad_gpa(0);
  linear = wrap(linear);
  const Access acc{AccessType::write, Privilege::from_cpl};
  const uint64_t m = arch::low_bytes_mask(bytes);
  expected &= m;
  desired &= m;
  if (bytes_in_page(linear, bytes) < bytes) {
    // Split across pages (a split lock, which the hardware's bus lock makes atomic whatever
    // the pages are, SDM Vol 3A 9.1.2.2): every page checked first, then one read of the whole
    // operand, the compare, one write of the whole, each page's part with its own answer
    // (through the routed view: RAM, watched and recorded, discarded, or the APIC device;
    // guest_phys_view.hpp). Not atomic against other CPUs for the RAM parts: this seam has no
    // lock across two pages.
    uint64_t cur = 0;
    MemStatus s = access(linear, bytes, acc, &cur, nullptr);
    if (!s.ok()) return s;
    *observed = cur & m;
    if ((cur & m) != expected) return MemStatus::success();
    return access(linear, bytes, acc, nullptr, &desired);
  }
  const Translation t = guest_memory::translate(phys_, linear, acc, paging_);
  if (!t.ok()) return status_of(t, linear);
  uint64_t seen = 0;
  if (phys_.cmpxchg_at(linear, t.gpa, bytes, expected, desired, &seen) != PhysStatus::ok) return bad_gpa(t.gpa);
  *observed = seen & m;
  if (observer_ && (seen & m) == expected) {
    WriteRecord rec{};
    rec.linear = linear;
    rec.gpa = t.gpa;
    rec.bytes = static_cast<uint8_t>(bytes);
    for (unsigned i = 0; i < bytes; ++i) {
      rec.old_bytes[i] = static_cast<uint8_t>(expected >> (8 * i));
      rec.new_bytes[i] = static_cast<uint8_t>(desired >> (8 * i));
    }
    observer_->on_write(rec);
  }
  return MemStatus::success();
}

}  // namespace vmm::guest_memory
