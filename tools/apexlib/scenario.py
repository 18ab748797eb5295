"""One boot scenario end to end: image -> emulator run -> serial check (tools/run-scenario)."""

import argparse
import os
import sys

from . import bochs, image, qemu, runner, serial, skips

EXIT_SKIP = 77      # meson: skipped
EXIT_ERROR = 99     # meson: hard error (the test could not be set up)

PLATFORMS = {
    # platform: (runner module, extra runner arguments)
    "bochs": (bochs, []),
    "qemu": (qemu, ["--accel", "auto"]),
    "qemu-tcg": (qemu, ["--accel", "tcg"]),
    "qemu-kvm": (qemu, ["--accel", "kvm"]),
}

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

DOC = """
Steps, all in the work directory (default <repo>/build/scenarios/NAME, emptied of the
previous run's files first):
  1. tools/mkimage: boot.img with --efi as \\EFI\\BOOT\\BOOTX64.EFI, --config as
     \\EFI\\apexvisor\\apexvisor.cfg, each --next NAME=FILE as \\EFI\\apexvisor\\NAME, each
     --file DEST=FILE as \\DEST; with --fallback-efi also fallback.img, a second disk whose
     \\EFI\\BOOT\\BOOTX64.EFI is that file (firmware's next boot option after the apexvisor disk);
  2. tools/run-bochs or tools/run-qemu on them (serial.log, bochs.log, emulator.out, ...);
  3. tools/check-serial serial.log EXPECT.
Platforms: bochs (VMX; --bochs 2.7 or 3.0), qemu (accel auto), qemu-tcg (no VMX), qemu-kvm (needs an Intel host
with nested VMX; skipped otherwise).

Exit status: 0 the run reached its end marker without failure markers AND every EXPECT rule
holds; 1 otherwise; 77 skipped (the platform is unavailable here: the reason is printed);
99 setup error (bad arguments, missing files, malformed EXPECT, image or emulator failure).
"""


def _say(name, text):
    print("run-scenario %s: %s" % (name, text), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="run-scenario", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run one apexvisor boot scenario: build its image, boot it under an "
                    "emulator, and check the serial log against an EXPECT file.",
        epilog=DOC + "\n" + serial.EXPECT_FORMAT)
    p.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
    p.add_argument("--bochs", choices=bochs.VERSIONS, default=bochs.DEFAULT_VERSION,
                   help="with --platform bochs: which Bochs (default %s; 3.0 is built by "
                        "tools/setup)" % bochs.DEFAULT_VERSION)
    p.add_argument("--cpu-model", metavar="MODEL", help="with --platform bochs: the cpu model "
                   "(default %s)" % bochs.DEFAULT_MODEL)
    p.add_argument("--name", required=True, help="scenario name (used for the work directory)")
    p.add_argument("--efi", required=True, metavar="FILE", help="apexvisor's EFI image")
    p.add_argument("--expect", required=True, metavar="FILE", help="EXPECT file for the serial log")
    p.add_argument("--cpus", type=int, default=2, metavar="N", help="CPUs (default 2)")
    p.add_argument("--mem", type=int, default=256, metavar="MiB", help="memory (default 256)")
    p.add_argument("--config", metavar="FILE", help="configuration file for the ESP")
    p.add_argument("--next", action="append", default=[], metavar="NAME=FILE",
                   help="next-stage file -> \\EFI\\apexvisor\\NAME (repeatable)")
    p.add_argument("--file", action="append", default=[], metavar="DEST=FILE",
                   help="other file -> \\DEST (repeatable)")
    p.add_argument("--fallback-efi", metavar="FILE",
                   help="attach a second disk that boots FILE (the firmware's next boot option)")
    p.add_argument("--size-mib", type=int, metavar="N", help="boot disk size (see tools/mkimage)")
    p.add_argument("--timeout", type=float, metavar="SEC",
                   help="hard limit for the emulator run (default: the runner's, bochs %d, qemu %d)"
                        % (bochs.DEFAULT_TIMEOUT, qemu.DEFAULT_TIMEOUT))
    p.add_argument("--end-marker", metavar="REGEX", help="runner end marker (default %r)"
                   % runner.DEFAULT_END_MARKER)
    p.add_argument("--fail-marker", action="append", metavar="REGEX",
                   help="runner failure marker (repeatable; replaces the defaults)")
    p.add_argument("--workdir", metavar="DIR", help="work directory (default build/scenarios/NAME "
                   "in the repository)")
    args = p.parse_args(argv)
    name = args.name

    mod, platform_args = PLATFORMS[args.platform]
    if mod is not bochs and (args.cpu_model or args.bochs != bochs.DEFAULT_VERSION):
        _say(name, "ERROR: --bochs and --cpu-model need --platform bochs")
        return EXIT_ERROR
    if mod is bochs:
        platform_args = platform_args + ["--bochs", args.bochs]
        if args.cpu_model:
            platform_args += ["--cpu-model", args.cpu_model]
        fact = bochs.unavailable(args.bochs)
        if fact:  # recorded by tools/setup: the source cannot be had here
            _say(name, skips.line(skips.NO_BOCHS3_SOURCE, fact))
            return EXIT_SKIP
        why = bochs.missing_prerequisites(args.bochs)
    else:
        why = mod.missing_prerequisites()
    if why:  # fixable by installing: tools/test counts it as a failure
        _say(name, skips.line(skips.MISSING_PREREQUISITE, why))
        return EXIT_SKIP
    if args.platform == "qemu-kvm":
        ok, reason = qemu.kvm_nested_vmx()
        if not ok:  # a fact about this machine: an allowed skip
            _say(name, skips.line("no-kvm-nested-vmx", "QEMU/KVM with nested VMX unavailable: " + reason))
            return EXIT_SKIP

    try:
        rules = serial.load_expect(args.expect)
        workdir = os.path.abspath(args.workdir or os.path.join(REPO, "build", "scenarios", name))
        os.makedirs(workdir, exist_ok=True)
        nexts = [image.parse_assignment(a, "--next") for a in args.next]
        files = [image.parse_assignment(a, "--file") for a in args.file]
        layout = image.esp_layout(args.efi, args.config, nexts, files)
        boot_img = os.path.join(workdir, "boot.img")
        image.build_image(boot_img, layout, args.size_mib)
        run_args = ["--image", boot_img, "--cpus", str(args.cpus), "--mem", str(args.mem),
                    "--workdir", workdir] + platform_args
        if args.fallback_efi:
            fb_img = os.path.join(workdir, "fallback.img")
            image.build_image(fb_img, image.esp_layout(args.fallback_efi), label="FALLBACK")
            run_args += ["--extra-disk", fb_img]
    except (serial.ExpectError, image.ImageError) as e:
        _say(name, "ERROR: %s" % e)
        return EXIT_ERROR
    except OSError as e:
        _say(name, "ERROR: %s: %s" % (e.filename or "", e.strerror))
        return EXIT_ERROR
    if args.timeout is not None:
        run_args += ["--timeout", str(args.timeout)]
    if args.end_marker is not None:
        run_args += ["--end-marker", args.end_marker]
    for m in args.fail_marker or []:
        run_args += ["--fail-marker", m]

    _say(name, "%s%s, %d CPU(s); image %s" % (args.platform, " " + args.bochs if mod is bochs else "",
                                             args.cpus, boot_img))
    try:
        run_code = mod.main(run_args)
    except SystemExit as e:      # argparse inside the runner
        run_code = e.code if isinstance(e.code, int) else runner.EXIT_ERROR
    sys.stdout.flush()

    log = os.path.join(workdir, "serial.log")
    if not os.path.exists(log):
        _say(name, "ERROR: no serial log (runner exit %s)" % run_code)
        return EXIT_ERROR
    result = serial.check(serial.read_log_lines(log), rules, log_name=log)
    print(result.report, flush=True)

    run_word = runner.VERDICT_WORD.get(run_code, "exit %s" % run_code)
    if run_code == runner.EXIT_PASS and result.ok:
        _say(name, "PASS (run %s, serial check PASS; workdir %s)" % (run_word, workdir))
        return 0
    if run_code == runner.EXIT_ERROR:
        _say(name, "ERROR (run %s, serial check %s; workdir %s)"
             % (run_word, "PASS" if result.ok else "FAIL", workdir))
        return EXIT_ERROR
    _say(name, "FAIL (run %s, serial check %s; workdir %s)"
         % (run_word, "PASS" if result.ok else "FAIL", workdir))
    return 1
