#include "boot/esp_files.hpp"

#include "boot/firmware.hpp"

namespace boot {
namespace {

EFI_GUID g_loaded_image_guid = LOADED_IMAGE_PROTOCOL;
EFI_GUID g_fs_guid = SIMPLE_FILE_SYSTEM_PROTOCOL;
EFI_GUID g_file_info_guid = EFI_FILE_INFO_ID;

EFI_FILE_HANDLE open_root(EFI_STATUS* status) {
  auto* bs = firmware().bs;
  EFI_LOADED_IMAGE* li = nullptr;
  *status = bs->HandleProtocol(firmware().image, &g_loaded_image_guid, reinterpret_cast<void**>(&li));
  if (EFI_ERROR(*status)) return nullptr;
  EFI_FILE_IO_INTERFACE* fs = nullptr;
  *status = bs->HandleProtocol(li->DeviceHandle, &g_fs_guid, reinterpret_cast<void**>(&fs));
  if (EFI_ERROR(*status)) return nullptr;
  EFI_FILE_HANDLE root = nullptr;
  *status = fs->OpenVolume(fs, &root);
  return EFI_ERROR(*status) ? nullptr : root;
}

}  // namespace

EFI_HANDLE esp_device() {
  EFI_LOADED_IMAGE* li = nullptr;
  if (EFI_ERROR(firmware().bs->HandleProtocol(firmware().image, &g_loaded_image_guid, reinterpret_cast<void**>(&li))))
    return nullptr;
  return li->DeviceHandle;
}

FileResult read_esp_file(const char16_t* path, char** data, size_t* size, EFI_STATUS* status) {
  EFI_FILE_HANDLE root = open_root(status);
  if (!root) return FileResult::error;
  EFI_FILE_HANDLE file = nullptr;
  *status = root->Open(root, &file, efi::w(path), EFI_FILE_MODE_READ, 0);
  root->Close(root);
  if (*status == EFI_NOT_FOUND) return FileResult::not_found;
  if (EFI_ERROR(*status)) return FileResult::error;

  FileResult result = FileResult::error;
  UINTN info_size = 0;
  EFI_FILE_INFO* info = nullptr;
  *status = file->GetInfo(file, &g_file_info_guid, &info_size, nullptr);
  if (*status == EFI_BUFFER_TOO_SMALL && (info = static_cast<EFI_FILE_INFO*>(alloc_pool(info_size)))) {
    *status = file->GetInfo(file, &g_file_info_guid, &info_size, info);
    if (!EFI_ERROR(*status)) {
      UINTN n = info->FileSize;
      char* buf = static_cast<char*>(alloc_pool(n + 1));
      if (!buf) {
        *status = EFI_OUT_OF_RESOURCES;
      } else {
        *status = file->Read(file, &n, buf);
        if (EFI_ERROR(*status)) {
          free_pool(buf);
        } else {
          buf[n] = '\0';
          *data = buf;
          *size = n;
          result = FileResult::ok;
        }
      }
    }
    free_pool(info);
  }
  file->Close(file);
  return result;
}

}  // namespace boot
