// acpi-tables.efi (issue P2 "Minimal ACPI for Bochs"): OVMF on Bochs installs no ACPI tables,
// so an OS started there sees one CPU and no ACPI. Chain-loaded after apexvisor (as its
// chainload= target), this program builds minimal valid tables from what the machine
// reports, installs them, and starts the next stage (a Linux kernel's EFI stub):
//   MADT  one Processor Local APIC entry per CPU (APIC ids from MP services
//         GetProcessorInfo, boot processor first), the I/O APIC at 0xfec00000 with the id it
//         reports, the local APIC address from IA32_APIC_BASE, overrides IRQ0 -> GSI 2 and the
//         SCI (level, active high), LINT1 = NMI;
//   FADT  revision 6, not hardware-reduced: SCI, PM1a event/control blocks and the PM timer
//         of the PIIX4 PM function (PCI 00:01.3; its PMBA is programmed to 0xb000 and enabled
//         when the firmware left it off) or of QEMU q35's ICH9 LPC, SMI_CMD 0 (always in ACPI
//         mode; SCI_EN set here);
//   FACS, DSDT (one \_S5 package: S5 = SLP_TYP 0, the PIIX4's soft-off).
// They go through EFI_ACPI_TABLE_PROTOCOL (OVMF's AcpiTableDxe builds the RSDP/RSDT/XSDT and
// links FACS and DSDT into the FADT); without that protocol they are laid out here in ACPI
// reclaim memory with our own RSDP/RSDT/XSDT, published as the EFI_ACPI_20_TABLE_GUID
// configuration table. When the firmware already has ACPI tables (QEMU, real machines) they
// are left alone. Each step prints one "apexvisor-acpi: " line on COM1.
//
// Next stage: the load options of this image, "<\path\to\next.efi> [its command line]", or
// else \EFI\apexvisor\acpi-next.cfg on the same volume with the keys
//   next=\EFI\linux\vmlinuz.efi
//   cmdline=console=ttyS0,115200 initrd=\EFI\linux\initrd.img
// ('#' starts a comment). With neither, the program returns to its caller.
#include <stdarg.h>

#include "arch/cpu.hpp"
#include "boot/efi/efi.hpp"
#include "boot/serial16550.hpp"
#include "tests/guest/guest_runtime.hpp"
#include "tests/guest/acpi_tables_build.hpp"
#include "vmm/log/format.hpp"

extern "C" void* memcpy(void*, const void*, size_t);
extern "C" void* memset(void*, int, size_t);
extern "C" int memcmp(const void*, const void*, size_t);

namespace {

EFI_SYSTEM_TABLE* g_st = nullptr;
EFI_BOOT_SERVICES* g_bs = nullptr;
EFI_HANDLE g_image = nullptr;

EFI_GUID g_acpi20_guid = ACPI_20_TABLE_GUID;
EFI_GUID g_acpi10_guid = ACPI_TABLE_GUID;
EFI_GUID g_loaded_image_guid = LOADED_IMAGE_PROTOCOL;
EFI_GUID g_fs_guid = SIMPLE_FILE_SYSTEM_PROTOCOL;
EFI_GUID g_device_path_guid = DEVICE_PATH_PROTOCOL;
EFI_GUID g_mp_guid = efi::kMpServicesGuid;
EFI_GUID g_acpi_table_guid = efi::kAcpiTableProtocolGuid;

// (boot/efi/status_name.cpp is part of the loader, not of the guest programs' libraries.)
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  guest::vsay_as("apexvisor-acpi: ", fmt, ap);
  va_end(ap);
}

void* alloc(size_t n) {
  void* p = nullptr;
  if (EFI_ERROR(g_bs->AllocatePool(EfiLoaderData, n, &p))) return nullptr;
  memset(p, 0, n);
  return p;
}
void release(void* p) {
  if (p) g_bs->FreePool(p);
}

// ---- port and MMIO access ---------------------------------------------------------------------
inline uint32_t inl(uint16_t port) {
  uint32_t v;
  asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline uint16_t inw(uint16_t port) {
  uint16_t v;
  asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }

uint32_t pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned reg) {
  arch::outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc));
  return inl(0xcfc);
}
void pci_write32(unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t v) {
  arch::outl(0xcf8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc));
  arch::outl(0xcfc, v);
}

uint32_t ioapic_read(uint32_t base, uint32_t index) {
  auto* sel = reinterpret_cast<volatile uint32_t*>(static_cast<uintptr_t>(base));
  auto* win = reinterpret_cast<volatile uint32_t*>(static_cast<uintptr_t>(base) + 0x10);
  *sel = index;
  return *win;
}

// ---- what the machine reports --------------------------------------------------------------------
struct Machine {
  acpi::MadtInput madt;
  acpi::FadtInput fadt;
  bool pm_found = false;
};

void gather_cpus(Machine& m) {
  efi::MpServicesProtocol* mp = nullptr;
  EFI_STATUS s = g_bs->LocateProtocol(&g_mp_guid, nullptr, reinterpret_cast<void**>(&mp));
  UINTN total = 0, enabled = 0;
  if (!EFI_ERROR(s)) s = mp->get_number_of_processors(mp, &total, &enabled);
  if (EFI_ERROR(s) || total == 0) {
    uint32_t id = arch::cpuid(1).ebx >> 24;
    say("MP services unavailable (%s): one CPU, APIC id %u from CPUID", efi::status_name(s), id);
    m.madt.cpu_count = 1;
    m.madt.apic_ids[0] = id;
    return;
  }
  unsigned n = 0;
  uint32_t others[acpi::kMaxCpus];
  unsigned n_others = 0;
  for (UINTN i = 0; i < total && n + n_others < acpi::kMaxCpus; ++i) {
    efi::ProcessorInformation info{};
    s = mp->get_processor_info(mp, i, &info);
    if (EFI_ERROR(s)) {
      say("GetProcessorInfo(%lu): %s; CPU left out", static_cast<unsigned long>(i), efi::status_name(s));
      continue;
    }
    bool bsp = info.status_flag & efi::kProcessorAsBsp;
    bool on = info.status_flag & efi::kProcessorEnabled;
    say("cpu%lu: APIC id %lu%s%s", static_cast<unsigned long>(i), static_cast<unsigned long>(info.processor_id),
        bsp ? " (boot processor)" : "", on ? "" : " (disabled: left out)");
    if (!on) continue;
    if (bsp && n == 0) m.madt.apic_ids[n++] = static_cast<uint32_t>(info.processor_id);
    else others[n_others++] = static_cast<uint32_t>(info.processor_id);
  }
  for (unsigned i = 0; i < n_others; ++i) m.madt.apic_ids[n++] = others[i];
  m.madt.cpu_count = n;
  if (total > acpi::kMaxCpus) say("only the first %u of %lu CPUs are described", acpi::kMaxCpus, static_cast<unsigned long>(total));
}

void gather_apics(Machine& m) {
  uint64_t apic_base = arch::rdmsr(0x1b);
  m.madt.local_apic_address = static_cast<uint32_t>(apic_base & 0xfffff000u);
  say("IA32_APIC_BASE=0x%lx: local APIC at 0x%x%s", static_cast<unsigned long>(apic_base), m.madt.local_apic_address,
      (apic_base & (1u << 10)) ? " (x2APIC mode)" : "");
  uint32_t id_reg = ioapic_read(m.madt.ioapic_address, 0);
  uint32_t ver_reg = ioapic_read(m.madt.ioapic_address, 1);
  if (ver_reg == 0xffffffffu) {
    m.madt.ioapic = false;
    say("no I/O APIC answers at 0x%x: MADT without one", m.madt.ioapic_address);
    return;
  }
  m.madt.ioapic_id = static_cast<uint8_t>((id_reg >> 24) & 0x0f);
  say("I/O APIC at 0x%x: id %u, version 0x%x, %u pins", m.madt.ioapic_address, m.madt.ioapic_id, ver_reg & 0xff,
      ((ver_reg >> 16) & 0xff) + 1);
}

// The ACPI power-management block: PM1a status/enable at +0 (4 bytes), PM1a control at +4
// (2), PM timer at +8 (4) on both chipsets handled here.
//   PIIX4 (Bochs' and QEMU's i440FX machines): function 00:01.3, 8086:7113; PMBA (config
//     0x40) holds the I/O base, PMREGMISC (0x80) bit 0 enables it. OVMF normally programs
//     0xb000; when it did not, it is programmed here.
//   ICH9 LPC (QEMU's q35): 00:1f.0, 8086:2918; PMBASE (0x40), ACPI_CNTL (0x44) bit 7 enables,
//     bits 2:0 select the SCI IRQ (0 = IRQ 9). Only used as the firmware left it.
void report_pm(Machine& m, const char* chip, uint16_t base, uint8_t sci, const char* sci_from) {
  // Always in ACPI mode (FADT SMI_CMD = 0): set SCI_EN as the ACPI_ENABLE handshake would.
  uint16_t cnt = inw(static_cast<uint16_t>(base + 4));
  if (!(cnt & 1)) outw(static_cast<uint16_t>(base + 4), static_cast<uint16_t>(cnt | 1));
  uint32_t t0 = inl(static_cast<uint16_t>(base + 8)) & 0xffffff;
  g_bs->Stall(1000);
  uint32_t t1 = inl(static_cast<uint16_t>(base + 8)) & 0xffffff;
  say("%s PM at I/O 0x%x: PM1a_EVT 0x%x PM1a_CNT 0x%x (SCI_EN %u) PM_TMR 0x%x (+%u ticks in 1 ms), SCI IRQ %u (%s)", chip,
      base, base, base + 4, inw(static_cast<uint16_t>(base + 4)) & 1, base + 8, (t1 - t0) & 0xffffff, sci, sci_from);
  m.pm_found = true;
  m.fadt.pm_base = base;
  m.fadt.sci_int = sci;
  m.madt.sci_irq = sci;
  m.fadt.century = 0x32;  // the PC CMOS century byte
}

void gather_pm(Machine& m) {
  uint32_t piix4 = pci_read32(0, 1, 3, 0);
  if (piix4 == 0x71138086u) {
    constexpr uint16_t kDefaultBase = 0xb000;
    uint32_t pmba = pci_read32(0, 1, 3, 0x40);
    uint32_t misc = pci_read32(0, 1, 3, 0x80);
    uint16_t base = static_cast<uint16_t>(pmba & 0xffc0);
    if (base == 0 || !(misc & 1)) {
      say("PIIX4 PM base 0x%x %s: programming PMBA=0x%x and enabling it", base, (misc & 1) ? "enabled" : "disabled",
          kDefaultBase);
      base = kDefaultBase;
      pci_write32(0, 1, 3, 0x40, (pmba & ~0xffc0u) | base);
      pci_write32(0, 1, 3, 0x80, misc | 1);
      pmba = pci_read32(0, 1, 3, 0x40);
      misc = pci_read32(0, 1, 3, 0x80);
    }
    if ((pmba & 0xffc0) != base || !(misc & 1)) {
      say("PIIX4 PM base did not take (PMBA=0x%x PMREGMISC=0x%x): FADT without PM blocks", pmba, misc);
      return;
    }
    // The SCI is the function's PCI INTA, routed like any PCI interrupt: its interrupt line.
    uint8_t line = static_cast<uint8_t>(pci_read32(0, 1, 3, 0x3c));
    bool usable = line >= 1 && line <= 15 && line != 2;
    report_pm(m, "PIIX4", base, usable ? line : 9, usable ? "interrupt line" : "default");
    return;
  }
  uint32_t ich9 = pci_read32(0, 0x1f, 0, 0);
  if (ich9 == 0x29188086u) {
    uint16_t base = static_cast<uint16_t>(pci_read32(0, 0x1f, 0, 0x40) & 0xff80);
    uint32_t cntl = pci_read32(0, 0x1f, 0, 0x44);
    if (base == 0 || !(cntl & 0x80)) {
      say("ICH9 PM base 0x%x %s: FADT without PM blocks", base, (cntl & 0x80) ? "enabled" : "disabled");
      return;
    }
    static constexpr uint8_t kSciIrq[8] = {9, 10, 11, 0, 20, 21, 0, 0};
    uint8_t sci = kSciIrq[cntl & 7];
    report_pm(m, "ICH9", base, sci ? sci : 9, sci ? "ACPI_CNTL" : "default");
    return;
  }
  say("no PIIX4 (00:01.3 id 0x%x) or ICH9 (00:1f.0 id 0x%x) PM function: FADT without PM blocks", piix4, ich9);
}

// ---- existing tables ----------------------------------------------------------------------------
const uint8_t* find_rsdp() {
  const uint8_t* acpi10 = nullptr;
  for (UINTN i = 0; i < g_st->NumberOfTableEntries; ++i) {
    EFI_CONFIGURATION_TABLE& t = g_st->ConfigurationTable[i];
    if (!memcmp(&t.VendorGuid, &g_acpi20_guid, sizeof(EFI_GUID))) return static_cast<const uint8_t*>(t.VendorTable);
    if (!memcmp(&t.VendorGuid, &g_acpi10_guid, sizeof(EFI_GUID))) acpi10 = static_cast<const uint8_t*>(t.VendorTable);
  }
  return acpi10;
}

// Lists the tables behind the RSDP, checking every checksum; returns how many are valid.
unsigned describe_tables(const uint8_t* rsdp, bool* has_madt, bool* has_fadt, unsigned* entries = nullptr) {
  *has_madt = *has_fadt = false;
  if (entries) *entries = 0;
  if (!rsdp || !acpi::rsdp_ok(rsdp)) {
    say("RSDP at %p: invalid (signature or checksum)", rsdp);
    return 0;
  }
  uint64_t xsdt = rsdp[15] >= 2 ? acpi::get64(rsdp, 24) : 0;
  uint32_t rsdt = acpi::get32(rsdp, 16);
  const auto* root = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(xsdt ? xsdt : rsdt));
  size_t entry = xsdt ? 8 : 4;
  if (!root || !acpi::table_ok(root, 1u << 20)) {
    say("RSDP rev %u at %p: root table at 0x%lx invalid", rsdp[15], rsdp, static_cast<unsigned long>(xsdt ? xsdt : rsdt));
    return 0;
  }
  unsigned n = (acpi::get32(root, 4) - acpi::kHeaderSize) / entry, valid = 0;
  if (entries) *entries = n;
  say("RSDP rev %u at %p (checksums ok), %s at %p with %u entries, RSDT at 0x%x", rsdp[15], rsdp, xsdt ? "XSDT" : "RSDT",
      root, n, rsdt);
  for (unsigned i = 0; i < n; ++i) {
    uint64_t a = entry == 8 ? acpi::get64(root, acpi::kHeaderSize + 8 * i) : acpi::get32(root, acpi::kHeaderSize + 4 * i);
    const auto* t = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(a));
    if (!t) {
      say("  entry %u: null", i);
      continue;
    }
    bool ok = acpi::table_ok(t, 1u << 20);
    valid += ok;
    char sig[5] = {};
    memcpy(sig, t, 4);
    say("  %s at 0x%lx: length %u, revision %u, checksum %s", sig, static_cast<unsigned long>(a), acpi::get32(t, 4), t[8],
        ok ? "ok" : "BAD");
    if (!ok) continue;
    if (acpi::has_signature(t, "APIC")) *has_madt = true;
    if (acpi::has_signature(t, "FACP")) {
      *has_fadt = true;
      uint64_t dsdt = acpi::get32(t, 4) >= 148 && acpi::get64(t, 140) ? acpi::get64(t, 140) : acpi::get32(t, 40);
      uint64_t facs = acpi::get32(t, 4) >= 140 && acpi::get64(t, 132) ? acpi::get64(t, 132) : acpi::get32(t, 36);
      const auto* d = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(dsdt));
      const auto* f = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(facs));
      say("    FADT: DSDT at 0x%lx (%s), FACS at 0x%lx (%s%s), SCI %u, PM1a_EVT 0x%x, PM1a_CNT 0x%x, PM_TMR 0x%x, flags 0x%x",
          static_cast<unsigned long>(dsdt), d && acpi::has_signature(d, "DSDT") && acpi::table_ok(d, 1u << 20) ? "ok" : "BAD",
          static_cast<unsigned long>(facs), f && acpi::has_signature(f, "FACS") ? "ok" : "BAD",
          (facs & 63) ? ", misaligned" : "", acpi::get16(t, 46), acpi::get32(t, 56), acpi::get32(t, 64),
          acpi::get32(t, 76), acpi::get32(t, 112));
    }
  }
  return valid;
}

// ---- installing ---------------------------------------------------------------------------------
struct Tables {
  uint8_t facs[acpi::kFacsSize];
  uint8_t dsdt[acpi::kHeaderSize + sizeof acpi::kDsdtBody];
  uint8_t fadt[acpi::kFadtSize];
  uint8_t madt[44 + acpi::kMaxCpus * 16 + 12 + 20 + 6];
  size_t madt_len;
};

bool build_all(const Machine& m, Tables* t) {
  if (!acpi::build_facs(t->facs, sizeof t->facs) || !acpi::build_dsdt(t->dsdt, sizeof t->dsdt) ||
      !acpi::build_fadt(t->fadt, sizeof t->fadt, m.fadt))
    return false;
  t->madt_len = acpi::build_madt(t->madt, sizeof t->madt, m.madt);
  return t->madt_len != 0;
}

EFI_STATUS install_with_protocol(efi::AcpiTableProtocol* proto, Tables* t) {
  struct Item {
    const char* name;
    uint8_t* data;
    size_t len;
  } items[] = {{"FACS", t->facs, sizeof t->facs},
               {"DSDT", t->dsdt, sizeof t->dsdt},
               {"FADT", t->fadt, sizeof t->fadt},
               {"MADT", t->madt, t->madt_len}};
  for (auto& it : items) {
    UINTN key = 0;
    EFI_STATUS s = proto->install_acpi_table(proto, it.data, it.len, &key);
    say("InstallAcpiTable(%s, %lu bytes): %s", it.name, static_cast<unsigned long>(it.len), efi::status_name(s));
    if (EFI_ERROR(s)) return s;
  }
  return EFI_SUCCESS;
}

// Without EFI_ACPI_TABLE_PROTOCOL: below 4 GiB, the FACS alone in a page of ACPI NVS memory
// (the OS may write it; page-aligned, so 64-byte aligned), and one block of ACPI reclaim
// memory holding DSDT, FADT, MADT, XSDT, RSDT and RSDP.
EFI_STATUS install_directly(const Machine& m, Tables* t) {
  EFI_PHYSICAL_ADDRESS nvs = 0xffffffffu, base = 0xffffffffu;
  constexpr UINTN kPages = 2;
  EFI_STATUS s = g_bs->AllocatePages(AllocateMaxAddress, EfiACPIMemoryNVS, 1, &nvs);
  if (EFI_ERROR(s)) {
    say("AllocatePages(ACPI NVS): %s", efi::status_name(s));
    return s;
  }
  s = g_bs->AllocatePages(AllocateMaxAddress, EfiACPIReclaimMemory, kPages, &base);
  if (EFI_ERROR(s)) {
    say("AllocatePages(ACPI reclaim): %s", efi::status_name(s));
    g_bs->FreePages(nvs, 1);
    return s;
  }
  auto* facs = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(nvs));
  memset(facs, 0, 4096);
  memcpy(facs, t->facs, sizeof t->facs);
  auto* mem = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(base));
  memset(mem, 0, kPages * 4096);
  size_t off = 0;
  auto place = [&](const uint8_t* src, size_t len) {
    uint8_t* dst = mem + off;
    memcpy(dst, src, len);
    off = (off + len + 15) & ~size_t{15};
    return dst;
  };
  uint8_t* dsdt = place(t->dsdt, sizeof t->dsdt);
  acpi::FadtInput fi = m.fadt;
  fi.facs = reinterpret_cast<uintptr_t>(facs);
  fi.dsdt = reinterpret_cast<uintptr_t>(dsdt);
  acpi::build_fadt(t->fadt, sizeof t->fadt, fi);
  uint8_t* fadt = place(t->fadt, sizeof t->fadt);
  uint8_t* madt = place(t->madt, t->madt_len);
  uint64_t x[2] = {reinterpret_cast<uintptr_t>(fadt), reinterpret_cast<uintptr_t>(madt)};
  uint32_t r[2] = {static_cast<uint32_t>(x[0]), static_cast<uint32_t>(x[1])};
  uint8_t* xsdt = mem + off;
  off = (off + acpi::build_xsdt(xsdt, kPages * 4096 - off, x, 2) + 15) & ~size_t{15};
  uint8_t* rsdt = mem + off;
  off = (off + acpi::build_rsdt(rsdt, kPages * 4096 - off, r, 2) + 15) & ~size_t{15};
  uint8_t* rsdp = mem + off;
  acpi::build_rsdp(rsdp, kPages * 4096 - off, static_cast<uint32_t>(reinterpret_cast<uintptr_t>(rsdt)),
                   reinterpret_cast<uintptr_t>(xsdt));
  s = g_bs->InstallConfigurationTable(&g_acpi20_guid, rsdp);
  say("InstallConfigurationTable(EFI_ACPI_20_TABLE_GUID, RSDP at %p): %s", rsdp, efi::status_name(s));
  return s;
}

void install_tables() {
  const uint8_t* existing = find_rsdp();
  if (existing) {
    bool madt = false, fadt = false;
    describe_tables(existing, &madt, &fadt);
    if (madt || fadt) {
      say("the firmware already has ACPI tables (MADT %s, FADT %s): leaving them", madt ? "yes" : "no", fadt ? "yes" : "no");
      return;
    }
  } else {
    say("the firmware has no ACPI tables: building them");
  }

  Machine m;
  gather_cpus(m);
  gather_apics(m);
  gather_pm(m);
  if (m.madt.ioapic && m.madt.ioapic_id == 0 && m.madt.cpu_count > 0) {
    // An id the firmware never set would collide with the boot CPU's APIC id 0 on the APIC
    // bus of old parts; Bochs' reset value is the CPU count, which it keeps.
    bool clash = false;
    for (unsigned i = 0; i < m.madt.cpu_count; ++i) clash |= m.madt.apic_ids[i] == 0;
    if (clash) say("note: I/O APIC id 0 equals a local APIC id (harmless with xAPIC's system-bus delivery)");
  }

  auto* t = static_cast<Tables*>(alloc(sizeof(Tables)));
  if (!t || !build_all(m, t)) {
    say("cannot build the tables (out of memory or a table too large)");
    release(t);
    return;
  }
  say("built MADT (%u bytes) with %u CPUs (APIC ids %u%s), I/O APIC id %u, FADT rev 6 (PM base 0x%x, SCI %u), DSDT with \\_S5",
      static_cast<unsigned>(t->madt_len), m.madt.cpu_count, m.madt.apic_ids[0], m.madt.cpu_count > 1 ? ",..." : "",
      m.madt.ioapic_id, m.fadt.pm_base, m.fadt.sci_int);

  efi::AcpiTableProtocol* proto = nullptr;
  EFI_STATUS s = g_bs->LocateProtocol(&g_acpi_table_guid, nullptr, reinterpret_cast<void**>(&proto));
  if (!EFI_ERROR(s)) {
    say("EFI_ACPI_TABLE_PROTOCOL found: installing through it");
    s = install_with_protocol(proto, t);
  } else {
    say("no EFI_ACPI_TABLE_PROTOCOL (%s): installing the tables as a configuration table", efi::status_name(s));
    s = install_directly(m, t);
  }
  release(t);
  if (EFI_ERROR(s)) {
    say("installing the ACPI tables failed: %s", efi::status_name(s));
    return;
  }
  bool madt = false, fadt = false;
  unsigned entries = 0;
  unsigned valid = describe_tables(find_rsdp(), &madt, &fadt, &entries);
  if (madt && fadt)
    say("installed MADT with %u CPUs, FADT, FACS, DSDT (%u of %u root table entries valid)", m.madt.cpu_count, valid,
        entries);
  else
    say("installed tables are incomplete: MADT %s, FADT %s", madt ? "yes" : "no", fadt ? "yes" : "no");
}

// ---- the next stage -----------------------------------------------------------------------------
struct Next {
  char path[256] = {};
  char cmdline[1024] = {};
};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void copy_trimmed(char* dst, size_t cap, const char* b, const char* e) {
  while (b < e && is_blank(*b)) ++b;
  while (e > b && is_blank(e[-1])) --e;
  size_t n = static_cast<size_t>(e - b) < cap - 1 ? static_cast<size_t>(e - b) : cap - 1;
  memcpy(dst, b, n);
  dst[n] = '\0';
}

bool ends_with_efi(const char* b, const char* e) {
  if (e - b < 4) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return lower(e[-4]) == '.' && lower(e[-3]) == 'e' && lower(e[-2]) == 'f' && lower(e[-1]) == 'i';
}

// "<path> [command line]"; a shell puts the program's own name first, which is skipped.
bool next_from_load_options(Next* n) {
  EFI_LOADED_IMAGE* li = nullptr;
  if (EFI_ERROR(g_bs->HandleProtocol(g_image, &g_loaded_image_guid, reinterpret_cast<void**>(&li))) || !li->LoadOptions ||
      li->LoadOptionsSize < 2)
    return false;
  char text[1280];
  size_t len = 0;
  const auto* w = static_cast<const CHAR16*>(li->LoadOptions);
  for (size_t i = 0; i < li->LoadOptionsSize / 2 && w[i] && len + 1 < sizeof text; ++i)
    text[len++] = w[i] < 0x80 ? static_cast<char>(w[i]) : '?';
  text[len] = '\0';
  const char* p = text;
  const char* end = text + len;
  auto word = [&](const char** b, const char** e) {
    while (p < end && is_blank(*p)) ++p;
    *b = p;
    while (p < end && !is_blank(*p)) ++p;
    *e = p;
    return *e > *b;
  };
  const char *b, *e;
  if (!word(&b, &e)) return false;
  const char* rest = p;
  const char *b2, *e2;
  if (ends_with_efi(b, e) && word(&b2, &e2) && ends_with_efi(b2, e2)) {
    b = b2;
    e = e2;
    rest = p;
  }
  copy_trimmed(n->path, sizeof n->path, b, e);
  copy_trimmed(n->cmdline, sizeof n->cmdline, rest, end);
  say("next stage from the load options: %s", n->path);
  return true;
}

EFI_FILE_HANDLE open_root() {
  EFI_LOADED_IMAGE* li = nullptr;
  if (EFI_ERROR(g_bs->HandleProtocol(g_image, &g_loaded_image_guid, reinterpret_cast<void**>(&li)))) return nullptr;
  EFI_FILE_IO_INTERFACE* fs = nullptr;
  if (EFI_ERROR(g_bs->HandleProtocol(li->DeviceHandle, &g_fs_guid, reinterpret_cast<void**>(&fs)))) return nullptr;
  EFI_FILE_HANDLE root = nullptr;
  return EFI_ERROR(fs->OpenVolume(fs, &root)) ? nullptr : root;
}

void to_wide(const char* s, CHAR16* out, size_t cap) {
  size_t i = 0;
  for (; s[i] && i + 1 < cap; ++i) out[i] = static_cast<CHAR16>(s[i] == '/' ? '\\' : s[i]);
  out[i] = 0;
}

// Opens `path` on our own volume: EFI_SUCCESS, EFI_NOT_FOUND, ...
EFI_STATUS open_file(const char* path, EFI_FILE_HANDLE* file) {
  EFI_FILE_HANDLE root = open_root();
  if (!root) return EFI_UNSUPPORTED;
  CHAR16 wide[256];
  to_wide(path, wide, 256);
  EFI_STATUS s = root->Open(root, file, wide, EFI_FILE_MODE_READ, 0);
  root->Close(root);
  return s;
}

bool next_from_config(Next* n) {
  const char* kPath = "\\EFI\\apexvisor\\acpi-next.cfg";
  EFI_FILE_HANDLE f = nullptr;
  EFI_STATUS s = open_file(kPath, &f);
  if (EFI_ERROR(s)) {
    say("no load options and no %s (%s)", kPath, efi::status_name(s));
    return false;
  }
  char buf[4096];
  UINTN len = sizeof buf - 1;
  s = f->Read(f, &len, buf);
  f->Close(f);
  if (EFI_ERROR(s)) {
    say("%s: read failed (%s)", kPath, efi::status_name(s));
    return false;
  }
  buf[len] = '\0';
  unsigned line_no = 0;
  for (char* line = buf; line < buf + len;) {
    char* eol = line;
    while (eol < buf + len && *eol != '\n') ++eol;
    ++line_no;
    char* hash = line;
    while (hash < eol && *hash != '#') ++hash;
    char* eq = line;
    while (eq < hash && *eq != '=') ++eq;
    char key[32];
    copy_trimmed(key, sizeof key, line, eq);
    if (eq < hash) {
      if (!memcmp(key, "next", 5)) copy_trimmed(n->path, sizeof n->path, eq + 1, hash);
      else if (!memcmp(key, "cmdline", 8)) copy_trimmed(n->cmdline, sizeof n->cmdline, eq + 1, hash);
      else say("%s:%u: unknown key '%s' ignored", kPath, line_no, key);
    } else if (key[0]) {
      say("%s:%u: not key=value; ignored", kPath, line_no);
    }
    line = eol + 1;
  }
  if (!n->path[0]) {
    say("%s has no next= line", kPath);
    return false;
  }
  say("next stage from %s: %s", kPath, n->path);
  return true;
}

EFI_DEVICE_PATH* file_device_path(const char* path) {
  EFI_LOADED_IMAGE* li = nullptr;
  EFI_DEVICE_PATH* dev = nullptr;
  if (EFI_ERROR(g_bs->HandleProtocol(g_image, &g_loaded_image_guid, reinterpret_cast<void**>(&li))) ||
      EFI_ERROR(g_bs->HandleProtocol(li->DeviceHandle, &g_device_path_guid, reinterpret_cast<void**>(&dev))))
    return nullptr;
  size_t dev_len = 0;
  for (auto* p = reinterpret_cast<const uint8_t*>(dev);;) {
    size_t l = p[2] | (p[3] << 8);
    if (p[0] == 0x7f && p[1] == 0xff) break;
    if (l < 4) return nullptr;
    dev_len += l;
    p += l;
  }
  size_t chars = 0;
  while (path[chars]) ++chars;
  size_t node = 4 + (chars + 1) * 2;
  auto* out = static_cast<uint8_t*>(alloc(dev_len + node + 4));
  if (!out) return nullptr;
  memcpy(out, dev, dev_len);
  uint8_t* f = out + dev_len;
  f[0] = 4;  // media
  f[1] = 4;  // file path
  f[2] = static_cast<uint8_t>(node);
  f[3] = static_cast<uint8_t>(node >> 8);
  to_wide(path, reinterpret_cast<CHAR16*>(f + 4), chars + 1);
  uint8_t* end = f + node;
  end[0] = 0x7f;
  end[1] = 0xff;
  end[2] = 4;
  end[3] = 0;
  return reinterpret_cast<EFI_DEVICE_PATH*>(out);
}

EFI_STATUS start_next() {
  Next n;
  if (!next_from_load_options(&n) && !next_from_config(&n)) {
    say("no next stage: returning to the caller");
    return EFI_SUCCESS;
  }
  EFI_FILE_HANDLE f = nullptr;
  EFI_STATUS s = open_file(n.path, &f);
  if (EFI_ERROR(s)) {
    say("next stage %s: %s on this volume", n.path, s == EFI_NOT_FOUND ? "not found" : efi::status_name(s));
    return s;
  }
  f->Close(f);
  EFI_DEVICE_PATH* dp = file_device_path(n.path);
  if (!dp) {
    say("next stage %s: cannot build its device path", n.path);
    return EFI_OUT_OF_RESOURCES;
  }
  EFI_HANDLE child = nullptr;
  s = g_bs->LoadImage(FALSE, g_image, dp, nullptr, 0, &child);
  release(dp);
  if (EFI_ERROR(s)) {
    say("LoadImage(%s): %s", n.path, efi::status_name(s));
    return s;
  }
  if (n.cmdline[0]) {
    EFI_LOADED_IMAGE* li = nullptr;
    size_t len = 0;
    while (n.cmdline[len]) ++len;
    auto* options = static_cast<CHAR16*>(alloc((len + 1) * 2));
    if (options && !EFI_ERROR(g_bs->HandleProtocol(child, &g_loaded_image_guid, reinterpret_cast<void**>(&li)))) {
      for (size_t i = 0; i <= len; ++i) options[i] = static_cast<CHAR16>(static_cast<unsigned char>(n.cmdline[i]));
      li->LoadOptions = options;
      li->LoadOptionsSize = static_cast<UINT32>((len + 1) * 2);
    }
  }
  say("starting %s with command line: %s", n.path, n.cmdline[0] ? n.cmdline : "(none)");
  UINTN exit_size = 0;
  s = g_bs->StartImage(child, &exit_size, nullptr);
  say("%s returned %s", n.path, efi::status_name(s));
  return s;
}

}  // namespace

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  g_st = st;
  g_bs = st->BootServices;
  g_image = image;
  guest::init(image, st);  // COM1, starting on a fresh line
  say("start");
  install_tables();
  return start_next();
}
