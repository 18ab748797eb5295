// gnu-efi's headers for C++ code, plus the protocols gnu-efi 3.0.15 does not declare.
#pragma once
extern "C" {
#include <efi.h>
}

namespace efi {

// String literals for firmware calls: with -fshort-wchar, u"" literals have CHAR16's layout.
inline CHAR16* w(const char16_t* s) { return reinterpret_cast<CHAR16*>(const_cast<char16_t*>(s)); }

// UEFI PI spec Vol 2, 13.4: EFI_MP_SERVICES_PROTOCOL.
inline constexpr EFI_GUID kMpServicesGuid = {0x3fdda605, 0xa76e, 0x4f46, {0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08}};

struct CpuPhysicalLocation {
  UINT32 package, core, thread;
};

struct ProcessorInformation {
  UINT64 processor_id;  // the local APIC id
  UINT32 status_flag;
  CpuPhysicalLocation location;
  // PI 1.7 appends ExtendedInformation, filled only when asked with CPU_V2_EXTENDED_TOPOLOGY;
  // room is kept so a firmware that writes it anyway cannot overrun the caller.
  UINT8 extended_information[24];
};
inline constexpr UINT32 kProcessorAsBsp = 1u << 0;
inline constexpr UINT32 kProcessorEnabled = 1u << 1;
inline constexpr UINT32 kProcessorHealthy = 1u << 2;

using ApProcedure = void(EFIAPI*)(void* argument);

struct MpServicesProtocol {
  EFI_STATUS(EFIAPI* get_number_of_processors)(MpServicesProtocol* self, UINTN* total, UINTN* enabled);
  EFI_STATUS(EFIAPI* get_processor_info)(MpServicesProtocol* self, UINTN number, ProcessorInformation* info);
  EFI_STATUS(EFIAPI* startup_all_aps)(MpServicesProtocol* self, ApProcedure procedure, BOOLEAN single_thread,
                                      EFI_EVENT wait_event, UINTN timeout_us, void* argument,
                                      UINTN** failed_cpu_list);
  EFI_STATUS(EFIAPI* startup_this_ap)(MpServicesProtocol* self, ApProcedure procedure, UINTN number,
                                      EFI_EVENT wait_event, UINTN timeout_us, void* argument, BOOLEAN* finished);
  EFI_STATUS(EFIAPI* switch_bsp)(MpServicesProtocol* self, UINTN number, BOOLEAN enable_old_bsp);
  EFI_STATUS(EFIAPI* enable_disable_ap)(MpServicesProtocol* self, UINTN number, BOOLEAN enable, UINT32* health);
  EFI_STATUS(EFIAPI* who_am_i)(MpServicesProtocol* self, UINTN* number);
};

// UEFI spec 21.2: EFI_ACPI_TABLE_PROTOCOL.
inline constexpr EFI_GUID kAcpiTableProtocolGuid = {0xffe06bdd, 0x6107, 0x46a6, {0x7b, 0xb2, 0x5a, 0x9c, 0x7e, 0xc5, 0x27, 0x5c}};
struct AcpiTableProtocol {
  EFI_STATUS(EFIAPI* install_acpi_table)(AcpiTableProtocol* self, void* table, UINTN size, UINTN* key);
  EFI_STATUS(EFIAPI* uninstall_acpi_table)(AcpiTableProtocol* self, UINTN key);
};

// Text for an EFI_STATUS, for log lines.
const char* status_name(EFI_STATUS s);

}  // namespace efi
