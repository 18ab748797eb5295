#include "boot/chainload.hpp"

#include "boot/console.hpp"
#include "boot/device_path.hpp"
#include "boot/esp_files.hpp"
#include "boot/firmware.hpp"
#include "vmm/log/format.hpp"
#include "vmm/log/log.hpp"

namespace boot {
namespace {

EFI_GUID g_global_variable = EFI_GLOBAL_VARIABLE;
EFI_GUID g_loaded_image_guid = LOADED_IMAGE_PROTOCOL;
constexpr UINT32 kLoadOptionActive = 0x1;

bool same_name_ignoring_case(const char* a, const char* b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (; *a && *b; ++a, ++b)
    if (lower(*a) != lower(*b)) return false;
  return *a == *b;
}

// Loads and starts `path` with `cmdline` (may be empty) as its load options; returns false
// when it could not be loaded.
bool start_image(EFI_DEVICE_PATH* path, const char* what, BOOLEAN boot_policy, const char* cmdline) {
  EFI_HANDLE child = nullptr;
  EFI_STATUS s = firmware().bs->LoadImage(boot_policy, firmware().image, path, nullptr, 0, &child);
  if (EFI_ERROR(s)) {
    APEX_LOG(error, "cannot load %s: %s", what, efi::status_name(s));
    return false;
  }
  if (cmdline && cmdline[0]) {
    // LoadOptions are UCS-2 (UEFI spec 9.1); a Linux EFI stub reads its command line here.
    size_t n = 0;
    while (cmdline[n]) ++n;
    auto* options = static_cast<CHAR16*>(alloc_pool((n + 1) * 2));
    EFI_LOADED_IMAGE* li = nullptr;
    if (options && !EFI_ERROR(firmware().bs->HandleProtocol(child, &g_loaded_image_guid, reinterpret_cast<void**>(&li)))) {
      for (size_t i = 0; i <= n; ++i) options[i] = static_cast<CHAR16>(static_cast<unsigned char>(cmdline[i]));
      li->LoadOptions = options;
      li->LoadOptionsSize = static_cast<UINT32>((n + 1) * 2);
      APEX_LOG(info, "load options: %s", cmdline);
    }
  }
  APEX_LOG(info, "starting %s", what);
  UINTN exit_size = 0;
  s = firmware().bs->StartImage(child, &exit_size, nullptr);
  APEX_LOG(info, "%s returned %s", what, efi::status_name(s));
  return true;
}

bool start_configured(const Config& cfg) {
  char16_t path[Config::kPathMax];
  size_t i = 0;
  for (; cfg.chainload[i]; ++i) path[i] = static_cast<char16_t>(cfg.chainload[i]);
  path[i] = 0;
  // Check the file first so a typo gets a precise message rather than a LoadImage error.
  char* data = nullptr;
  size_t size = 0;
  EFI_STATUS status = EFI_SUCCESS;
  FileResult r = read_esp_file(path, &data, &size, &status);
  if (r != FileResult::ok) {
    APEX_LOG(error, "chainload=%s: %s on the ESP (%s); falling back to the next boot entry", cfg.chainload,
             r == FileResult::not_found ? "not found" : "unreadable", efi::status_name(status));
    return false;
  }
  free_pool(data);
  EFI_DEVICE_PATH* dp = file_device_path(esp_device(), path);
  if (!dp) {
    APEX_LOG(error, "chainload=%s: cannot build its device path; falling back to the next boot entry", cfg.chainload);
    return false;
  }
  char what[Config::kPathMax + 16];
  vmm::format(what, sizeof what, "chainload=%s", cfg.chainload);
  bool started = start_image(dp, what, FALSE, cfg.cmdline);
  free_pool(dp);
  return started;
}

bool start_next_boot_entry() {
  size_t order_size = 0, current_size = 0;
  auto* order = static_cast<UINT16*>(read_variable(u"BootOrder", &g_global_variable, &order_size));
  auto* current = static_cast<UINT16*>(read_variable(u"BootCurrent", &g_global_variable, &current_size));
  if (!order) {
    APEX_LOG(warn, "no BootOrder variable: nothing to chain-load");
    return false;
  }
  char own_name[128] = "";
  EFI_LOADED_IMAGE* li = nullptr;
  if (!EFI_ERROR(firmware().bs->HandleProtocol(firmware().image, &g_loaded_image_guid, reinterpret_cast<void**>(&li))) &&
      li->FilePath)
    device_path_file_name(li->FilePath, own_name, sizeof own_name);

  size_t n = order_size / 2, start = 0;
  if (current)
    for (size_t i = 0; i < n; ++i)
      if (order[i] == *current) start = i + 1;
  bool started = false;
  for (size_t i = start; i < n && !started; ++i) {
    char16_t var[9] = u"Boot0000";
    const char* hex = "0123456789ABCDEF";
    for (int d = 0; d < 4; ++d) var[4 + d] = static_cast<char16_t>(hex[(order[i] >> (12 - 4 * d)) & 0xf]);
    size_t size = 0;
    auto* opt = static_cast<UINT8*>(read_variable(var, &g_global_variable, &size));
    if (!opt) continue;
    // EFI_LOAD_OPTION (UEFI spec 3.1.3): Attributes, FilePathListLength, Description, FilePathList.
    UINT32 attributes = opt[0] | (opt[1] << 8) | (opt[2] << 16) | (static_cast<UINT32>(opt[3]) << 24);
    size_t desc = 6;
    char description[64];
    size_t k = 0;
    while (desc + 1 < size && (opt[desc] | opt[desc + 1])) {
      if (k + 1 < sizeof description) description[k++] = opt[desc] < 0x80 ? static_cast<char>(opt[desc]) : '?';
      desc += 2;
    }
    description[k] = '\0';
    auto* path = reinterpret_cast<EFI_DEVICE_PATH*>(opt + desc + 2);
    char file[128];
    device_path_file_name(path, file, sizeof file);
    if (!(attributes & kLoadOptionActive)) {
      APEX_LOG(debug, "Boot%04x '%s' is inactive; skipped", order[i], description);
    } else if (own_name[0] && file[0] && same_name_ignoring_case(own_name, file)) {
      APEX_LOG(info, "Boot%04x '%s' is apexvisor itself; skipped", order[i], description);
    } else if (!file[0]) {
      // A whole device: boot its removable-media path, as the firmware's boot manager would.
      EFI_DEVICE_PATH* full = removable_media_path(path, esp_device());
      char what[128];
      vmm::format(what, sizeof what, "Boot%04x '%s' (\\EFI\\BOOT\\BOOTX64.EFI)", order[i], description);
      if (!full) APEX_LOG(info, "Boot%04x '%s': no other file system with a boot loader on it; skipped", order[i], description);
      else started = start_image(full, what, TRUE, nullptr);
      if (full) free_pool(full);
    } else {
      EFI_DEVICE_PATH* full = expand_device_path(path);
      char what[128];
      vmm::format(what, sizeof what, "Boot%04x '%s'", order[i], description);
      if (!full) APEX_LOG(warn, "%s: no device matches its path; skipped", what);
      else started = start_image(full, what, TRUE, nullptr);
      if (full && full != path) free_pool(full);
    }
    free_pool(opt);
  }
  free_pool(order);
  free_pool(current);
  return started;
}

}  // namespace

bool start_next_stage(const Config& cfg) {
  if (cfg.chainload[0] && start_configured(cfg)) return true;
  if (start_next_boot_entry()) return true;
  APEX_LOG(info, "no next boot stage could be started; returning to the firmware, which tries its next boot option");
  return false;
}

}  // namespace boot
