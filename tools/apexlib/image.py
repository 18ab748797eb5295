"""The apexvisor ESP layout and the dd-able USB disk image.

Layout (paths on the FAT file system, which firmware reads case-insensitively):
  \\EFI\\BOOT\\BOOTX64.EFI             apexvisor.efi (the removable-media boot path)
  \\EFI\\apexvisor\\apexvisor.cfg       the configuration file, if one is given
  \\EFI\\apexvisor\\<NAME>              next-stage programs and their files (--next NAME=FILE)
  \\<DEST>                            anything else (--file DEST=FILE, e.g. startup.nsh)

Disk image: a classic MBR (signature 55 AA, one primary partition of type 0xEF starting at
LBA 2048 = 1 MiB, which is what partitioning tools and firmware expect of a USB stick) and a
FAT file system made with mkfs.fat and filled with mtools on a separate partition file, then
copied in at its offset: no loop devices, no mounts, no root. The total size is a whole number
of 16-head, 63-sector cylinders (1008 sectors), so Bochs' automatic geometry covers the whole
disk; the default is 64 cylinders (31.5 MiB).
"""

import os
import shutil
import struct
import subprocess
import tempfile

SECTOR = 512
HEADS = 16
SECTORS_PER_TRACK = 63
CYLINDER_SECTORS = HEADS * SECTORS_PER_TRACK       # 1008
PART_START = 2048                                  # LBA of the partition: 1 MiB
DEFAULT_CYLINDERS = 64                             # 64*16*63 sectors = 31.5 MiB
PART_TYPE_ESP = 0xEF
MIB = 1024 * 1024

ESP_BOOT = "EFI/BOOT/BOOTX64.EFI"
ESP_DIR = "EFI/apexvisor"
ESP_CONFIG = ESP_DIR + "/apexvisor.cfg"

# Not valid in FAT long names (besides the path separators / and \, handled separately).
_BAD_CHARS = set('<>:"|?*') | {chr(c) for c in range(32)}


class ImageError(Exception):
    """Bad input or a failed image step; the message says which."""


def esp_path(name, what):
    """A relative ESP path ('/' or '\\' separated) checked and normalised to 'A/B/C'."""
    parts = [p for p in name.replace("\\", "/").split("/")]
    if name.startswith(("/", "\\")):
        parts = parts[1:]
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise ImageError("%s: %r is not a relative path on the ESP" % (what, name))
    for p in parts:
        bad = sorted(set(p) & _BAD_CHARS)
        if bad:
            raise ImageError("%s: %r contains characters FAT does not allow: %r"
                             % (what, name, "".join(bad)))
        if p.endswith((" ", ".")):
            raise ImageError("%s: %r: FAT names cannot end with a blank or a dot" % (what, name))
    return "/".join(parts)


def parse_assignment(text, what):
    """'NAME=FILE' -> (NAME, FILE)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ImageError("%s: expected NAME=FILE, got %r" % (what, text))
    return name, path


def _check_source(path, what):
    if not os.path.isfile(path):
        raise ImageError("%s: %s: no such file" % (what, path))
    return path


def esp_layout(efi, config=None, nexts=(), files=()):
    """The ESP contents as a list of (esp_path, host_file).

    efi: apexvisor's EFI image; config: configuration file or None; nexts: (NAME, FILE) pairs
    placed at EFI/apexvisor/NAME; files: (DEST, FILE) pairs placed at DEST."""
    _check_source(efi, "--efi")
    with open(efi, "rb") as f:
        if f.read(2) != b"MZ":
            raise ImageError("--efi: %s is not a PE/EFI image (no MZ header); give the .efi "
                             "made by objcopy, not the .so" % efi)
    layout = [(ESP_BOOT, efi)]
    if config is not None:
        layout.append((ESP_CONFIG, _check_source(config, "--config")))
    for name, path in nexts:
        layout.append((ESP_DIR + "/" + esp_path(name, "--next"), _check_source(path, "--next")))
    for dest, path in files:
        layout.append((esp_path(dest, "--file"), _check_source(path, "--file")))
    seen = {}
    for dest, path in layout:
        key = dest.upper()          # FAT is case-insensitive
        if key in seen:
            raise ImageError("two files for the same ESP path %s: %s and %s" % (dest, seen[key], path))
        seen[key] = path
    return layout


def _dirs(layout):
    """The directories the layout needs, parents first."""
    out = []
    for dest, _ in layout:
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in out:
                out.append(d)
    return out


# ---- directory output ---------------------------------------------------------------------

def build_dir(outdir, layout):
    """Write the layout under outdir (created if needed; an existing outdir/EFI is replaced)."""
    os.makedirs(outdir, exist_ok=True)
    efi_tree = os.path.join(outdir, "EFI")
    if os.path.isdir(efi_tree):
        shutil.rmtree(efi_tree)
    for dest, src in layout:
        target = os.path.join(outdir, *dest.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(src, target)


# ---- disk image output -----------------------------------------------------------------------

def _round_up(value, unit):
    return -(-value // unit) * unit


def plan_sectors(layout, size_mib=None):
    """Total disk sectors: whole cylinders, at least the default, room for the payload."""
    payload = sum(_round_up(os.path.getsize(src), 4096) for _, src in layout)
    payload += 4096 * len(_dirs(layout))
    # FAT tables, root directory, reserved sectors and slack: 2 MiB + 5 %.
    need_part = _round_up(payload + payload // 20 + 2 * MIB, SECTOR) // SECTOR
    need_total = _round_up(PART_START + need_part, CYLINDER_SECTORS)
    if size_mib is not None:
        if size_mib <= 0:
            raise ImageError("--size-mib must be positive")
        total = _round_up(size_mib * MIB // SECTOR, CYLINDER_SECTORS)
        if total < need_total:
            raise ImageError("--size-mib %d is too small for %.1f MiB of files; use --size-mib %d "
                             "or more" % (size_mib, payload / MIB, -(-need_total * SECTOR // MIB)))
        return total
    return max(DEFAULT_CYLINDERS * CYLINDER_SECTORS, need_total)


def _chs(lba):
    """CHS bytes (head, sector|cyl-high, cyl-low) for an MBR entry; FE FF FF beyond 1023 cyl."""
    cyl = lba // CYLINDER_SECTORS
    if cyl > 1023:
        return bytes([0xFE, 0xFF, 0xFF])
    head = (lba // SECTORS_PER_TRACK) % HEADS
    sector = lba % SECTORS_PER_TRACK + 1
    return bytes([head, sector | ((cyl >> 2) & 0xC0), cyl & 0xFF])


def mbr(total_sectors, disk_id):
    """A 512-byte MBR with one ESP partition from PART_START to the end of the disk."""
    count = total_sectors - PART_START
    b = bytearray(SECTOR)
    # Boot code for a legacy BIOS that boots the stick anyway: cli; hlt; jmp back to hlt.
    b[0:4] = b"\xfa\xf4\xeb\xfd"
    struct.pack_into("<I", b, 440, disk_id)
    entry = (bytes([0x00]) + _chs(PART_START) + bytes([PART_TYPE_ESP])
             + _chs(PART_START + count - 1) + struct.pack("<II", PART_START, count))
    b[446:462] = entry
    b[510:512] = b"\x55\xaa"
    return bytes(b)


def read_mbr_partitions(path):
    """[(type, start_lba, sectors)] of the used primary entries of an MBR disk image."""
    with open(path, "rb") as f:
        b = f.read(SECTOR)
    if len(b) < SECTOR or b[510:512] != b"\x55\xaa":
        raise ImageError("%s: no MBR signature" % path)
    parts = []
    for i in range(4):
        e = b[446 + 16 * i: 462 + 16 * i]
        if e[4] != 0:
            start, count = struct.unpack("<II", e[8:16])
            parts.append((e[4], start, count))
    return parts


def _run(argv, what):
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, text=True)
    except FileNotFoundError:
        raise ImageError("%s: %s not found (run tools/setup: packages mtools, dosfstools)"
                         % (what, argv[0]))
    if r.returncode != 0:
        raise ImageError("%s failed (exit %d): %s\n%s" % (what, r.returncode, " ".join(argv),
                                                          r.stdout.strip()))


def copy_sparse(src, dst_file, offset):
    """Copy file src into the open dst_file at offset, seeking over all-zero MiB blocks."""
    with open(src, "rb") as f:
        pos = offset
        while True:
            chunk = f.read(MIB)
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                dst_file.seek(pos)
                dst_file.write(chunk)
            pos += len(chunk)


def build_image(out, layout, size_mib=None, label="APEXVISOR", disk_id=None):
    """Write the MBR disk image; returns its total size in sectors."""
    total = plan_sectors(layout, size_mib)
    part_sectors = total - PART_START
    if disk_id is None:
        disk_id = struct.unpack("<I", os.urandom(4))[0] or 1
    outdir = os.path.dirname(os.path.abspath(out))
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".mkimage-", dir=outdir)
    try:
        part = os.path.join(tmp, "part.img")
        with open(part, "wb") as f:
            f.truncate(part_sectors * SECTOR)
        _run(["mkfs.fat", "-n", label[:11].upper(), "-h", str(PART_START),
              "-g", "%d/%d" % (HEADS, SECTORS_PER_TRACK), "-i", "%08x" % disk_id, part],
             "mkfs.fat")
        for d in _dirs(layout):
            _run(["mmd", "-i", part, "::/" + d], "mmd ::/" + d)
        for dest, src in layout:
            _run(["mcopy", "-i", part, "-D", "o", src, "::/" + dest], "mcopy %s" % src)
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(total * SECTOR)
            f.write(mbr(total, disk_id))
            copy_sparse(part, f, PART_START * SECTOR)
        os.replace(disk, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return total
