#include "vmm/guest_memory/guest_phys_view.hpp"

#include "arch/little_endian.hpp"
#include "vmm/exit_context.hpp"
#include "vmm/log/log.hpp"
#include "vmm/vcpu.hpp"

namespace vmm::guest_memory {

const char* page_kind_name(PageKind k) {
  switch (k) {
    case PageKind::hypervisor: return "hypervisor memory";
    case PageKind::apic: return "the trapped xAPIC page";
    case PageKind::watched: return "a watched page";
    case PageKind::ram: return "guest RAM";
  }
  return "?";
}

// Each one logged, rate-limited with the other lines a guest can cause (vmm/log/log.hpp): a
// guest that keeps writing there fills no UART queue.
void count_discarded_write(Vcpu& vcpu) {
  const uint64_t n = ++vcpu.hypervisor_writes_discarded;
  APEX_LOG_GUEST(warn, "cpu%u: a guest write into hypervisor memory was discarded (%llu on this CPU)", vcpu.index,
                 static_cast<unsigned long long>(n));
}

PageKind GuestPhysView::classify(uint64_t gpa) const {
  // The APIC page first: it is never hypervisor memory (route_apic_page refuses such a page),
  // so the answer is the same, and the APIC-access exits, whose every access is to it, skip
  // the hypervisor-memory lookup (an EPT walk in the image).
  if (apic_ && (gpa & ~(kPageSize - 1)) == apic_page_) return PageKind::apic;
  if (hypervisor_ && hypervisor_(gpa)) return PageKind::hypervisor;
  if (watched_ && watched_->watched(gpa)) return PageKind::watched;
  return PageKind::ram;
}

PhysStatus GuestPhysView::read(uint64_t gpa, void* dst, size_t bytes) {
  auto* out = static_cast<uint8_t*>(dst);
  for (size_t off = 0; off < bytes;) {
    const uint64_t at = gpa + off;
    const size_t n = bytes_in_page(at, bytes - off);
    PhysStatus s = PhysStatus::ok;
    switch (classify(at)) {
      case PageKind::hypervisor:
        for (size_t i = 0; i < n; ++i) out[off + i] = 0;
        break;
      case PageKind::apic: {
        ExitContext* ctx = exit_now();
        s = ctx ? apic_->read(*ctx, at, out + off, n) : PhysStatus::bad_gpa;
        break;
      }
      case PageKind::watched:  // a watched page is memory to a read
      case PageKind::ram: s = ram_->read(at, out + off, n); break;
    }
    if (s != PhysStatus::ok) return s;
    off += n;
  }
  return PhysStatus::ok;
}

PhysStatus GuestPhysView::write_at(uint64_t linear, uint64_t gpa, const void* src, size_t bytes) {
  const auto* in = static_cast<const uint8_t*>(src);
  for (size_t off = 0; off < bytes;) {
    const size_t n = bytes_in_page(gpa + off, bytes - off);
    const PhysStatus s = write_page(linear == kNoLinear ? kNoLinear : linear + off, gpa + off, in + off, n);
    if (s != PhysStatus::ok) return s;
    off += n;
  }
  return PhysStatus::ok;
}

PhysStatus GuestPhysView::write_page(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes) {
  switch (classify(gpa)) {
    case PageKind::hypervisor:
      if (ExitContext* ctx = exit_now()) count_discarded_write(ctx->vcpu);
      return PhysStatus::ok;
    case PageKind::apic: {
      ExitContext* ctx = exit_now();
      return ctx ? apic_->write(*ctx, gpa, src, bytes) : PhysStatus::bad_gpa;
    }
    case PageKind::watched: return write_watched(linear, gpa, src, bytes);
    case PageKind::ram: break;
  }
  return ram_->write(gpa, src, bytes);
}

// Written like RAM in pieces of at most WriteRecord::kMaxBytes, each handed to the owner with
// the bytes it replaced (read just before: another CPU's store in between is not seen).
PhysStatus GuestPhysView::write_watched(uint64_t linear, uint64_t gpa, const uint8_t* src, size_t bytes) {
  ExitContext* ctx = exit_now();
  for (size_t off = 0; off < bytes; off += WriteRecord::kMaxBytes) {
    const size_t n = bytes - off < WriteRecord::kMaxBytes ? bytes - off : WriteRecord::kMaxBytes;
    WriteRecord rec{};
    rec.linear = linear == kNoLinear ? kNoLinear : linear + off;
    rec.gpa = gpa + off;
    rec.bytes = static_cast<uint8_t>(n);
    if (ram_->read(rec.gpa, rec.old_bytes, n) != PhysStatus::ok) return PhysStatus::bad_gpa;
    for (size_t i = 0; i < n; ++i) rec.new_bytes[i] = src[off + i];
    if (ram_->write(rec.gpa, src + off, n) != PhysStatus::ok) return PhysStatus::bad_gpa;
    watched_->record(ctx, rec);
  }
  return PhysStatus::ok;
}

PhysStatus GuestPhysView::cmpxchg_at(uint64_t linear, uint64_t gpa, unsigned bytes, uint64_t expected,
                                     uint64_t desired, uint64_t* observed) {
  // One page only: a split lock is GuestLinearMemory's (see the header); nobody else asks.
  if (bytes == 0 || bytes > 8 || bytes_in_page(gpa, bytes) < bytes) return PhysStatus::bad_gpa;
  const uint64_t m = arch::low_bytes_mask(bytes);
  switch (classify(gpa)) {
    case PageKind::hypervisor:
      *observed = 0;  // what the page reads; the store it would make is discarded
      if ((expected & m) == 0)
        if (ExitContext* ctx = exit_now()) count_discarded_write(ctx->vcpu);
      return PhysStatus::ok;
    case PageKind::apic: {
      ExitContext* ctx = exit_now();
      return ctx ? apic_->cmpxchg(*ctx, gpa, bytes, expected, desired, observed) : PhysStatus::bad_gpa;
    }
    case PageKind::watched: {
      uint64_t seen = 0;
      const PhysStatus s = ram_->cmpxchg(gpa, bytes, expected, desired, &seen);
      if (s != PhysStatus::ok) return s;
      *observed = seen;
      if ((seen & m) == (expected & m)) {  // it stored: expected was the old value
        WriteRecord rec{};
        rec.linear = linear;
        rec.gpa = gpa;
        rec.bytes = static_cast<uint8_t>(bytes);
        arch::store_le(rec.old_bytes, bytes, expected);
        arch::store_le(rec.new_bytes, bytes, desired);
        watched_->record(exit_now(), rec);
      }
      return PhysStatus::ok;
    }
    case PageKind::ram: break;
  }
  return ram_->cmpxchg(gpa, bytes, expected, desired, observed);
}

PhysStatus GuestPhysView::probe(uint64_t gpa) {
  switch (classify(gpa)) {
    case PageKind::hypervisor: return PhysStatus::ok;  // takes anything: zeros, discards
    case PageKind::apic: return exit_now() ? PhysStatus::ok : PhysStatus::bad_gpa;  // the device takes any access
    case PageKind::watched:
    case PageKind::ram: break;
  }
  return ram_->probe(gpa);
}

}  // namespace vmm::guest_memory
