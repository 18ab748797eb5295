#include "boot/device_path.hpp"

#include "boot/esp_files.hpp"
#include "boot/firmware.hpp"

extern "C" void* memcpy(void*, const void*, size_t);
extern "C" int memcmp(const void*, const void*, size_t);

namespace boot {
namespace {

constexpr UINT8 kMediaType = 4, kHardDriveSubtype = 1, kFilePathSubtype = 4;
constexpr UINT8 kEndType = 0x7f, kEndEntireSubtype = 0xff;

EFI_GUID g_device_path_guid = DEVICE_PATH_PROTOCOL;
EFI_GUID g_fs_guid = SIMPLE_FILE_SYSTEM_PROTOCOL;

size_t node_len(const EFI_DEVICE_PATH* n) { return n->Length[0] | (n->Length[1] << 8); }
bool is_end(const EFI_DEVICE_PATH* n) { return n->Type == kEndType && n->SubType == kEndEntireSubtype; }
EFI_DEVICE_PATH* next(EFI_DEVICE_PATH* n) {
  return reinterpret_cast<EFI_DEVICE_PATH*>(reinterpret_cast<UINT8*>(n) + node_len(n));
}
// A malformed node (length < 4) would loop forever: treat it as the end.
bool walkable(const EFI_DEVICE_PATH* n) { return node_len(n) >= 4 && !is_end(n); }

EFI_DEVICE_PATH* concat(EFI_DEVICE_PATH* head, EFI_DEVICE_PATH* tail) {
  size_t head_len = device_path_size(head) - 4;
  size_t tail_len = device_path_size(tail);
  auto* out = static_cast<UINT8*>(alloc_pool(head_len + tail_len));
  if (!out) return nullptr;
  memcpy(out, head, head_len);
  memcpy(out + head_len, tail, tail_len);
  return reinterpret_cast<EFI_DEVICE_PATH*>(out);
}

}  // namespace

size_t device_path_size(EFI_DEVICE_PATH* path) {
  size_t n = 0;
  EFI_DEVICE_PATH* p = path;
  for (; walkable(p); p = next(p)) n += node_len(p);
  return n + 4;
}

EFI_DEVICE_PATH* file_device_path(EFI_HANDLE device, const char16_t* path) {
  EFI_DEVICE_PATH* dev = nullptr;
  if (EFI_ERROR(firmware().bs->HandleProtocol(device, &g_device_path_guid, reinterpret_cast<void**>(&dev))))
    return nullptr;
  size_t chars = 0;
  while (path[chars]) ++chars;
  size_t file_node = 4 + (chars + 1) * 2;
  size_t dev_len = device_path_size(dev) - 4;
  auto* out = static_cast<UINT8*>(alloc_pool(dev_len + file_node + 4));
  if (!out) return nullptr;
  memcpy(out, dev, dev_len);
  UINT8* f = out + dev_len;
  f[0] = kMediaType;
  f[1] = kFilePathSubtype;
  f[2] = static_cast<UINT8>(file_node);
  f[3] = static_cast<UINT8>(file_node >> 8);
  memcpy(f + 4, path, (chars + 1) * 2);
  UINT8* end = f + file_node;
  end[0] = kEndType;
  end[1] = kEndEntireSubtype;
  end[2] = 4;
  end[3] = 0;
  return reinterpret_cast<EFI_DEVICE_PATH*>(out);
}

EFI_DEVICE_PATH* expand_device_path(EFI_DEVICE_PATH* path) {
  if (path->Type == kMediaType && path->SubType == kFilePathSubtype) {
    // File-only short form: relative to the volume we were loaded from.
    EFI_DEVICE_PATH* dev = nullptr;
    if (EFI_ERROR(firmware().bs->HandleProtocol(esp_device(), &g_device_path_guid, reinterpret_cast<void**>(&dev))))
      return nullptr;
    return concat(dev, path);
  }
  if (!(path->Type == kMediaType && path->SubType == kHardDriveSubtype)) return path;
  // HD() short form (UEFI spec 3.1.2): find the file system whose path holds the same
  // partition node, and put its path in front of the rest of ours.
  UINTN count = 0;
  EFI_HANDLE* handles = nullptr;
  if (EFI_ERROR(firmware().bs->LocateHandleBuffer(ByProtocol, &g_fs_guid, nullptr, &count, &handles))) return nullptr;
  EFI_DEVICE_PATH* result = nullptr;
  for (UINTN i = 0; i < count && !result; ++i) {
    EFI_DEVICE_PATH* dev = nullptr;
    if (EFI_ERROR(firmware().bs->HandleProtocol(handles[i], &g_device_path_guid, reinterpret_cast<void**>(&dev))))
      continue;
    for (EFI_DEVICE_PATH* n = dev; walkable(n); n = next(n)) {
      if (n->Type == kMediaType && n->SubType == kHardDriveSubtype && node_len(n) == node_len(path) &&
          memcmp(n, path, node_len(n)) == 0) {
        result = concat(dev, next(path));
        break;
      }
    }
  }
  free_pool(handles);
  return result;
}

EFI_DEVICE_PATH* removable_media_path(EFI_DEVICE_PATH* device, EFI_HANDLE skip) {
  const size_t prefix = device_path_size(device) - 4;
  UINTN count = 0;
  EFI_HANDLE* handles = nullptr;
  if (EFI_ERROR(firmware().bs->LocateHandleBuffer(ByProtocol, &g_fs_guid, nullptr, &count, &handles))) return nullptr;
  EFI_DEVICE_PATH* result = nullptr;
  for (UINTN i = 0; i < count && !result; ++i) {
    if (handles[i] == skip) continue;
    EFI_DEVICE_PATH* dev = nullptr;
    if (EFI_ERROR(firmware().bs->HandleProtocol(handles[i], &g_device_path_guid, reinterpret_cast<void**>(&dev))))
      continue;
    if (device_path_size(dev) - 4 < prefix || memcmp(dev, device, prefix) != 0) continue;
    result = file_device_path(handles[i], u"\\EFI\\BOOT\\BOOTX64.EFI");
  }
  free_pool(handles);
  return result;
}

void device_path_file_name(EFI_DEVICE_PATH* path, char* buf, size_t cap) {
  buf[0] = '\0';
  for (EFI_DEVICE_PATH* n = path; walkable(n); n = next(n)) {
    if (n->Type != kMediaType || n->SubType != kFilePathSubtype) continue;
    const auto* text = reinterpret_cast<const UINT8*>(n) + 4;
    size_t chars = (node_len(n) - 4) / 2, k = 0;
    for (size_t i = 0; i < chars && k + 1 < cap; ++i) {
      UINT16 c = static_cast<UINT16>(text[2 * i] | (text[2 * i + 1] << 8));
      if (!c) break;
      buf[k++] = c < 0x80 ? static_cast<char>(c) : '?';
    }
    buf[k] = '\0';
  }
}

}  // namespace boot
