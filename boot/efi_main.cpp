extern "C" {
#include <efi.h>
}
extern "C" EFI_STATUS efi_main(EFI_HANDLE img, EFI_SYSTEM_TABLE* st) {
  (void)img;
  st->ConOut->OutputString(st->ConOut, (CHAR16*)u"apexvisor\r\n");
  return EFI_SUCCESS;
}
