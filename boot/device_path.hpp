// Building and comparing UEFI device paths (UEFI spec 10.3) for chain-loading.
#pragma once
#include <stddef.h>

#include "boot/efi/efi.hpp"

namespace boot {

// `device`'s own path + a file node for `path`: a new pool buffer, nullptr on failure.
EFI_DEVICE_PATH* file_device_path(EFI_HANDLE device, const char16_t* path);

// A Boot#### path may be short-form (starting at the HD() partition node, or at the file
// node). Returns a full path a firmware LoadImage can resolve (a new pool buffer), the path
// itself when it is already full, or nullptr when no device matches.
EFI_DEVICE_PATH* expand_device_path(EFI_DEVICE_PATH* path);

// A Boot#### path that names a whole device (a disk, no file node): the firmware's boot
// manager boots the removable-media path \EFI\BOOT\BOOTX64.EFI of a file system on it (UEFI
// spec 3.5.1). Returns that full path for the first such file system that is not `skip`
// (our own ESP: it would start apexvisor again), or nullptr.
EFI_DEVICE_PATH* removable_media_path(EFI_DEVICE_PATH* device, EFI_HANDLE skip);

// The text of the last file-path node of `path` (for log lines and for recognising our own
// boot entry), copied as ASCII into buf.
void device_path_file_name(EFI_DEVICE_PATH* path, char* buf, size_t cap);

size_t device_path_size(EFI_DEVICE_PATH* path);  // bytes including the end node

}  // namespace boot
