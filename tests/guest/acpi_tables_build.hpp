// The ACPI tables of acpi-tables.efi (issue P2 "Minimal ACPI for Bochs"), built into byte
// buffers: RSDP 2.0, RSDT, XSDT, FADT 6.0, FACS, DSDT (with \_S5) and MADT. Pure functions
// over plain inputs (no firmware calls), header-only so the program stays one source file
// and a host test can include it too. Every builder writes little-endian fields at their
// ACPI-spec offsets (ACPI 6.4 chapter 5), fills the checksum, and returns the table's
// length, or 0 when `cap` is too small.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace acpi {

inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kRsdpSize = 36;
inline constexpr size_t kFadtSize = 276;  // revision 6
inline constexpr size_t kFacsSize = 64;
inline constexpr unsigned kMaxCpus = 64;

inline void put8(uint8_t* p, size_t off, uint8_t v) { p[off] = v; }
inline void put16(uint8_t* p, size_t off, uint16_t v) {
  p[off] = static_cast<uint8_t>(v);
  p[off + 1] = static_cast<uint8_t>(v >> 8);
}
inline void put32(uint8_t* p, size_t off, uint32_t v) {
  put16(p, off, static_cast<uint16_t>(v));
  put16(p, off + 2, static_cast<uint16_t>(v >> 16));
}
inline void put64(uint8_t* p, size_t off, uint64_t v) {
  put32(p, off, static_cast<uint32_t>(v));
  put32(p, off + 4, static_cast<uint32_t>(v >> 32));
}
inline uint16_t get16(const uint8_t* p, size_t off) { return static_cast<uint16_t>(p[off] | (p[off + 1] << 8)); }
inline uint32_t get32(const uint8_t* p, size_t off) {
  return get16(p, off) | (static_cast<uint32_t>(get16(p, off + 2)) << 16);
}
inline uint64_t get64(const uint8_t* p, size_t off) {
  return get32(p, off) | (static_cast<uint64_t>(get32(p, off + 4)) << 32);
}
inline void put_chars(uint8_t* p, size_t off, const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) p[off + i] = static_cast<uint8_t>(s[i]);
}
inline void zero(uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = 0;
}

// The byte that makes the sum of `n` bytes 0 (mod 256), given that the checksum byte
// itself is currently 0.
inline uint8_t checksum_for(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(0x100 - sum);
}
inline bool sums_to_zero(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return sum == 0;
}

inline constexpr char kOemId[7] = "APEXVR";
inline constexpr char kOemTableId[9] = "APEXVISR";
inline constexpr char kCreatorId[5] = "APXV";

// The System Description Table header (ACPI 5.2.6); checksum left 0 for finish().
inline void put_header(uint8_t* p, const char sig[4], uint32_t length, uint8_t revision) {
  put_chars(p, 0, sig, 4);
  put32(p, 4, length);
  put8(p, 8, revision);
  put8(p, 9, 0);
  put_chars(p, 10, kOemId, 6);
  put_chars(p, 16, kOemTableId, 8);
  put32(p, 24, 1);  // OEM revision
  put_chars(p, 28, kCreatorId, 4);
  put32(p, 32, 1);  // creator revision
}
inline size_t finish(uint8_t* p, size_t length) {
  p[9] = 0;
  p[9] = checksum_for(p, length);
  return length;
}

// A table that a parser would accept: known length within `avail`, checksum 0.
inline bool table_ok(const uint8_t* p, size_t avail) {
  if (avail < kHeaderSize) return false;
  uint32_t len = get32(p, 4);
  return len >= kHeaderSize && len <= avail && sums_to_zero(p, len);
}
inline bool has_signature(const uint8_t* p, const char sig[4]) {
  return p[0] == static_cast<uint8_t>(sig[0]) && p[1] == static_cast<uint8_t>(sig[1]) &&
         p[2] == static_cast<uint8_t>(sig[2]) && p[3] == static_cast<uint8_t>(sig[3]);
}

// ---- RSDP (5.2.5.3), revision 2 ------------------------------------------------------------
inline size_t build_rsdp(uint8_t* p, size_t cap, uint32_t rsdt, uint64_t xsdt) {
  if (cap < kRsdpSize) return 0;
  zero(p, kRsdpSize);
  put_chars(p, 0, "RSD PTR ", 8);
  put_chars(p, 9, kOemId, 6);
  put8(p, 15, 2);
  put32(p, 16, rsdt);
  put32(p, 20, kRsdpSize);
  put64(p, 24, xsdt);
  p[8] = checksum_for(p, 20);            // the ACPI 1.0 part
  p[32] = checksum_for(p, kRsdpSize);    // the whole structure
  return kRsdpSize;
}
inline bool rsdp_ok(const uint8_t* p) {
  for (int i = 0; i < 8; ++i)
    if (p[i] != static_cast<uint8_t>("RSD PTR "[i])) return false;
  if (!sums_to_zero(p, 20)) return false;
  return p[15] < 2 || (get32(p, 20) >= kRsdpSize && sums_to_zero(p, get32(p, 20)));
}

// ---- RSDT / XSDT (5.2.7, 5.2.8) ----------------------------------------------------------------
inline size_t build_rsdt(uint8_t* p, size_t cap, const uint32_t* entries, size_t n) {
  size_t len = kHeaderSize + 4 * n;
  if (cap < len) return 0;
  put_header(p, "RSDT", static_cast<uint32_t>(len), 1);
  for (size_t i = 0; i < n; ++i) put32(p, kHeaderSize + 4 * i, entries[i]);
  return finish(p, len);
}
inline size_t build_xsdt(uint8_t* p, size_t cap, const uint64_t* entries, size_t n) {
  size_t len = kHeaderSize + 8 * n;
  if (cap < len) return 0;
  put_header(p, "XSDT", static_cast<uint32_t>(len), 1);
  for (size_t i = 0; i < n; ++i) put64(p, kHeaderSize + 8 * i, entries[i]);
  return finish(p, len);
}

// ---- FACS (5.2.10): no checksum; the firmware that installs it must align it to 64 bytes --------
inline size_t build_facs(uint8_t* p, size_t cap) {
  if (cap < kFacsSize) return 0;
  zero(p, kFacsSize);
  put_chars(p, 0, "FACS", 4);
  put32(p, 4, kFacsSize);
  put32(p, 8, 0);   // hardware signature
  put8(p, 32, 2);   // version
  return kFacsSize;
}

// ---- DSDT (5.2.11.1): a definition block holding only Name (\_S5, Package {0, 0, 0, 0}) ------
// SLP_TYP 0 for S5 is what the PIIX4 PM of Bochs (and QEMU) decodes as soft power off.
inline constexpr uint8_t kDsdtBody[] = {
    0x08, '_', 'S', '5', '_',  // NameOp "_S5_"
    0x12, 0x06, 0x04,          // PackageOp, PkgLength 6, NumElements 4
    0x00, 0x00, 0x00, 0x00,    // ZeroOp x4: PM1a SLP_TYP, PM1b SLP_TYP, reserved, reserved
};
inline size_t build_dsdt(uint8_t* p, size_t cap) {
  size_t len = kHeaderSize + sizeof kDsdtBody;
  if (cap < len) return 0;
  put_header(p, "DSDT", static_cast<uint32_t>(len), 2);  // revision 2: 64-bit integers
  for (size_t i = 0; i < sizeof kDsdtBody; ++i) p[kHeaderSize + i] = kDsdtBody[i];
  return finish(p, len);
}

// ---- FADT (5.2.9), revision 6 (ACPI 6.0 layout, 276 bytes), not hardware-reduced --------------
struct FadtInput {
  uint64_t facs = 0;     // 0: none yet (AcpiTableDxe fills it when the FACS is installed)
  uint64_t dsdt = 0;     // likewise
  uint16_t sci_int = 9;  // the SCI's ISA IRQ
  uint32_t smi_cmd = 0;  // 0: the hardware is always in ACPI mode (no transition)
  uint8_t acpi_enable = 0, acpi_disable = 0;
  uint16_t pm_base = 0;  // PIIX4 PMBA: PM1a_EVT at +0 (4 bytes), PM1a_CNT at +4 (2), PM_TMR at +8 (4)
  uint8_t century = 0;   // CMOS index of the century, 0 if none
};
inline constexpr uint32_t kFadtWbinvd = 1u << 0;
inline constexpr uint32_t kFadtProcC1 = 1u << 2;
inline constexpr uint32_t kFadtPwrButton = 1u << 4;  // no fixed power button
inline constexpr uint32_t kFadtSlpButton = 1u << 5;  // no fixed sleep button
inline constexpr uint32_t kFadtRtcS4 = 1u << 7;
inline constexpr uint32_t kFadtHwReduced = 1u << 20;
inline constexpr uint16_t kBootArchLegacyDevices = 1u << 0;
inline constexpr uint16_t kBootArch8042 = 1u << 1;

// Generic Address Structure (5.2.3.2) in system I/O space.
inline void put_gas_io(uint8_t* p, size_t off, uint16_t port, uint8_t bit_width, uint8_t access_size) {
  put8(p, off, port ? 1 : 0);  // address space: system I/O
  put8(p, off + 1, port ? bit_width : 0);
  put8(p, off + 2, 0);
  put8(p, off + 3, port ? access_size : 0);
  put64(p, off + 4, port);
}

inline size_t build_fadt(uint8_t* p, size_t cap, const FadtInput& in) {
  if (cap < kFadtSize) return 0;
  zero(p, kFadtSize);
  put_header(p, "FACP", kFadtSize, 6);
  put32(p, 36, in.facs < (1ull << 32) ? static_cast<uint32_t>(in.facs) : 0);  // FIRMWARE_CTRL
  put32(p, 40, in.dsdt < (1ull << 32) ? static_cast<uint32_t>(in.dsdt) : 0);  // DSDT
  put8(p, 45, 0);                 // Preferred_PM_Profile: unspecified
  put16(p, 46, in.sci_int);       // SCI_INT
  put32(p, 48, in.smi_cmd);       // SMI_CMD
  put8(p, 52, in.acpi_enable);
  put8(p, 53, in.acpi_disable);
  const uint16_t base = in.pm_base;
  const uint16_t evt = base, cnt = base ? static_cast<uint16_t>(base + 4) : 0,
                 tmr = base ? static_cast<uint16_t>(base + 8) : 0;
  put32(p, 56, evt);              // PM1a_EVT_BLK
  put32(p, 64, cnt);              // PM1a_CNT_BLK
  put32(p, 76, tmr);              // PM_TMR_BLK
  put8(p, 88, base ? 4 : 0);      // PM1_EVT_LEN
  put8(p, 89, base ? 2 : 0);      // PM1_CNT_LEN
  put8(p, 91, base ? 4 : 0);      // PM_TMR_LEN
  put16(p, 96, 101);              // P_LVL2_LAT > 100: C2 not supported
  put16(p, 98, 1001);             // P_LVL3_LAT > 1000: C3 not supported
  put8(p, 108, in.century);
  put16(p, 109, kBootArchLegacyDevices | kBootArch8042);  // IAPC_BOOT_ARCH
  put32(p, 112, kFadtWbinvd | kFadtProcC1 | kFadtPwrButton | kFadtSlpButton | kFadtRtcS4);
  put8(p, 131, 0);                // FADT minor version (6.0)
  put64(p, 132, in.facs >= (1ull << 32) ? in.facs : 0);  // X_FIRMWARE_CTRL
  put64(p, 140, in.dsdt);         // X_DSDT
  // The extended blocks match the legacy ones (a parser warns when they differ).
  // Access size 0 (legacy): the OS uses the register widths (PM1 status and enable 16 bits
  // each, control 16, timer 32), which are what the PIIX4 PM decodes.
  put_gas_io(p, 148, evt, 32, 0);  // X_PM1a_EVT_BLK
  put_gas_io(p, 172, cnt, 16, 0);  // X_PM1a_CNT_BLK
  put_gas_io(p, 208, tmr, 32, 0);  // X_PM_TMR_BLK
  return finish(p, kFadtSize);
}

// ---- MADT (5.2.12) ------------------------------------------------------------------------------
struct MadtInput {
  uint32_t local_apic_address = 0xfee00000;
  unsigned cpu_count = 0;
  uint32_t apic_ids[kMaxCpus] = {};  // the boot processor first
  bool ioapic = true;
  uint8_t ioapic_id = 0;
  uint32_t ioapic_address = 0xfec00000;
  uint32_t ioapic_gsi_base = 0;
  uint8_t sci_irq = 9;  // gets a level-triggered, active-high override (as PCs with PIIX4 have)
};
inline constexpr uint32_t kMadtPcatCompat = 1u << 0;

inline size_t madt_size(const MadtInput& in) {
  size_t n = 44;
  for (unsigned i = 0; i < in.cpu_count && i < kMaxCpus; ++i) n += in.apic_ids[i] < 0xff ? 8 : 16;
  if (in.ioapic) n += 12 + 10 + (in.sci_irq != 0 && in.sci_irq != 2 ? 10 : 0);
  return n + 6;  // local APIC NMI
}

inline size_t build_madt(uint8_t* p, size_t cap, const MadtInput& in) {
  size_t len = madt_size(in);
  if (cap < len) return 0;
  zero(p, len);
  put_header(p, "APIC", static_cast<uint32_t>(len), 5);
  put32(p, 36, in.local_apic_address);
  put32(p, 40, kMadtPcatCompat);  // dual 8259s present (the OS masks them)
  size_t o = 44;
  for (unsigned i = 0; i < in.cpu_count && i < kMaxCpus; ++i) {
    if (in.apic_ids[i] < 0xff) {  // Processor Local APIC (5.2.12.2)
      put8(p, o, 0);
      put8(p, o + 1, 8);
      put8(p, o + 2, static_cast<uint8_t>(i));  // ACPI processor UID
      put8(p, o + 3, static_cast<uint8_t>(in.apic_ids[i]));
      put32(p, o + 4, 1);                       // enabled
      o += 8;
    } else {  // Processor Local x2APIC (5.2.12.12)
      put8(p, o, 9);
      put8(p, o + 1, 16);
      put32(p, o + 4, in.apic_ids[i]);
      put32(p, o + 8, 1);
      put32(p, o + 12, i);
      o += 16;
    }
  }
  if (in.ioapic) {
    put8(p, o, 1);  // I/O APIC (5.2.12.3)
    put8(p, o + 1, 12);
    put8(p, o + 2, in.ioapic_id);
    put32(p, o + 4, in.ioapic_address);
    put32(p, o + 8, in.ioapic_gsi_base);
    o += 12;
    // Interrupt Source Overrides (5.2.12.5): the PIT's IRQ0 is wired to GSI 2.
    put8(p, o, 2);
    put8(p, o + 1, 10);
    put8(p, o + 2, 0);  // bus: ISA
    put8(p, o + 3, 0);  // IRQ0
    put32(p, o + 4, 2);
    put16(p, o + 8, 0);  // conforming polarity and trigger
    o += 10;
    if (in.sci_irq != 0 && in.sci_irq != 2) {
      put8(p, o, 2);
      put8(p, o + 1, 10);
      put8(p, o + 2, 0);
      put8(p, o + 3, in.sci_irq);
      put32(p, o + 4, in.sci_irq);
      put16(p, o + 8, 0x000d);  // active high (01), level triggered (11 << 2)
      o += 10;
    }
  }
  put8(p, o, 4);  // Local APIC NMI (5.2.12.7): LINT1 of every processor
  put8(p, o + 1, 6);
  put8(p, o + 2, 0xff);
  put16(p, o + 3, 0);
  put8(p, o + 5, 1);
  o += 6;
  return finish(p, o);
}

}  // namespace acpi
