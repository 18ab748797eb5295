// Files on the volume apexvisor was loaded from (its ESP): the configuration and the
// chain-load target live there.
#pragma once
#include <stddef.h>

#include "boot/efi/efi.hpp"

namespace boot {

enum class FileResult { ok, not_found, error };

// Reads `path` (backslash-separated, from the volume root) into a new pool buffer with a NUL
// appended (not counted in *size). On error *status holds the firmware's answer.
FileResult read_esp_file(const char16_t* path, char** data, size_t* size, EFI_STATUS* status);

// The device our image was loaded from (for building device paths of sibling files).
EFI_HANDLE esp_device();

}  // namespace boot
