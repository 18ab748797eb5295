"""QEMU + OVMF: the command line, KVM / nested-VMX detection and the run-qemu command."""

import argparse
import os
import shutil

from . import runner

QEMU = "qemu-system-x86_64"
OVMF = "/usr/share/ovmf/OVMF.fd"
DEFAULT_TIMEOUT = 60


def missing_prerequisites():
    """Why QEMU runs are impossible here, or None."""
    if shutil.which(QEMU) is None:
        return "%s is not installed (run tools/setup: package qemu-system-x86)" % QEMU
    if not os.path.isfile(OVMF):
        return "%s is missing (run tools/setup: package ovmf)" % OVMF
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def kvm_nested_vmx(dev="/dev/kvm", cpuinfo="/proc/cpuinfo",
                   nested="/sys/module/kvm_intel/parameters/nested"):
    """(usable, reason): can QEMU/KVM here give the guest VMX (nested virtualization)?

    Needs a usable /dev/kvm, an Intel host CPU with VMX, and kvm_intel loaded with nested=Y/1.
    (An AMD host's KVM offers SVM, not VMX, to its guests.)"""
    if not os.path.exists(dev):
        return False, "%s does not exist" % dev
    if not os.access(dev, os.R_OK | os.W_OK):
        return False, "%s is not readable and writable by this user" % dev
    info = _read(cpuinfo) or ""
    vendor = next((l.split(":", 1)[1].strip() for l in info.splitlines()
                   if l.startswith("vendor_id")), "unknown")
    if vendor != "GenuineIntel":
        return False, "host CPU vendor is %s: nested VMX needs an Intel host" % vendor
    flags = next((l.split(":", 1)[1].split() for l in info.splitlines()
                  if l.startswith("flags")), [])
    if "vmx" not in flags:
        return False, "host CPU does not report the vmx flag"
    value = _read(nested)
    if value is None:
        return False, "kvm_intel is not loaded (%s missing)" % nested
    if value.strip() not in ("Y", "1"):
        return False, "kvm_intel nested=%s (load kvm_intel with nested=1)" % value.strip()
    return True, "Intel host with kvm_intel nested=%s and a usable %s" % (value.strip(), dev)


def choose_accel(requested, probe=kvm_nested_vmx):
    """(accel, reason) for --accel kvm|tcg|auto; raises SetupError when kvm is impossible."""
    if requested == "tcg":
        return "tcg", "requested with --accel tcg (no VMX for the guest)"
    ok, why = probe()
    if ok:
        return "kvm", why
    if requested == "kvm":
        raise runner.SetupError("--accel kvm: nested VMX unavailable: %s" % why)
    return "tcg", "KVM nested VMX unavailable (%s); TCG offers no VMX" % why


def qemu_argv(boot, extras, cpus, mem, accel):
    """The QEMU command line; paths are relative to the work directory (QEMU's cwd)."""
    argv = [shutil.which(QEMU) or QEMU, "-machine", "q35"]
    # KVM: -cpu host, as QEMU's named models lack wait-for-SIPI (IA32_VMX_MISC bit 8).
    argv += ["-enable-kvm", "-cpu", "host"] if accel == "kvm" else ["-cpu", "max"]
    argv += ["-smp", str(cpus), "-m", str(mem), "-display", "none", "-monitor", "none",
             "-no-reboot", "-bios", OVMF, "-serial", "file:serial.log",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    kind, path = boot
    argv += ["-drive", "format=raw,file=" + (path if kind == "image" else "fat:rw:" + path)]
    for d in extras:
        argv += ["-drive", "format=raw,file=" + d]
    return argv


DOC = """
QEMU runs as `qemu-system-x86_64 -machine q35 -cpu max -smp N -m MEM -display none -monitor none
-no-reboot -bios /usr/share/ovmf/OVMF.fd -serial file:serial.log -device
isa-debug-exit,iobase=0xf4,iosize=0x04 -drive format=raw,file=disk.img` in its own session.
--accel: kvm is used only when /dev/kvm is usable and the host is an Intel CPU with nested VMX
(/sys/module/kvm_intel/parameters/nested is Y or 1); then `-enable-kvm -cpu host`. Otherwise
TCG, whose `-cpu max` offers no VMX. auto (the default) picks kvm when possible; kvm fails
(exit 3) when it is not. The choice and its reason are printed.
outb(0xf4, v) ends QEMU with status (v<<1)|1; the verdict still comes from the serial log.

Work directory (kept after the run): disk.img (this run's copy of --image) or esp/ (copy of
--dir, used as fat:rw:esp), extraN.img, serial.log (the raw serial log, ANSI escapes
included) and emulator.out (QEMU's stdout/stderr).
Our stdout shows the serial log as it grows, cleaned of ANSI escapes and CRs, then a one-line
verdict; on failure the tail of emulator.out comes before it.
"""


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="run-qemu", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Boot an apexvisor image under QEMU + OVMF (TCG, or KVM with nested VMX), "
                    "stream its serial log and judge the run by end/failure markers.",
        epilog=DOC + "\n" + runner.EXIT_STATUS_DOC)
    runner.add_common_arguments(p, DEFAULT_TIMEOUT)
    p.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                   help="accelerator (default auto: kvm when nested VMX is available, else tcg)")
    args = p.parse_args(argv)

    why = missing_prerequisites()
    if why:
        print("run-qemu: ERROR: %s" % why, flush=True)
        return runner.EXIT_ERROR
    try:
        accel, reason = choose_accel(args.accel)
    except runner.SetupError as e:
        print("run-qemu: ERROR: %s" % e, flush=True)
        return runner.EXIT_ERROR
    print("run-qemu: accelerator %s: %s" % (accel, reason), flush=True)

    def build(workdir, boot, extras):
        return qemu_argv(boot, extras, args.cpus, args.mem, accel)

    describe = "QEMU q35 (%s) x%d, %d MiB, %s" % (accel, args.cpus, args.mem,
                                                   "image" if args.image else "fat:rw directory")
    return runner.run_main("run-qemu", args, build, describe, failure_report)


def failure_report(workdir):
    return [("last lines of emulator.out (QEMU stdout/stderr)",
             runner.tail(os.path.join(workdir, "emulator.out"), 20))]
