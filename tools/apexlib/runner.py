"""Running an emulator unattended and judging the run by its serial log.

Written once for run-bochs and run-qemu:
  * the emulator starts in its own session (no controlling terminal, stdin /dev/null), its
    stdout/stderr go to a file in the work directory;
  * the serial log file is polled as it grows; each complete line is cleaned (serial.clean_text)
    and echoed to our stdout, then tested against the failure markers and the end marker;
  * the run ends at the end marker, at a failure marker (after a short grace period that lets a
    multi-line diagnostic dump reach the log), when the emulator exits, or at the hard timeout;
    the emulator's whole process group is then killed (SIGTERM, then SIGKILL);
  * the verdict comes from the serial log only: Bochs exits 1 on a normal power-off and may
    crash on teardown; QEMU's exit status encodes isa-debug-exit values.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from . import serial
from .image import copy_sparse

EXIT_PASS = 0       # end marker seen, no failure marker before it
EXIT_FAIL = 1       # failure marker, or the emulator stopped early after printing something
EXIT_TIMEOUT = 2    # hard timeout
EXIT_ERROR = 3      # emulator or setup error (could not start, printed nothing, bad arguments)

DEFAULT_END_MARKER = r"^apexvisor-test: end"
DEFAULT_FAIL_MARKERS = [r"\[cpu\d+ fatal\]", r"^apexvisor-test: abort"]

EXIT_STATUS_DOC = """Exit status (from the serial log, never from the emulator's own status):
  0  the end marker appeared and no failure marker before it
  1  a failure marker appeared, or the emulator stopped after printing something but before
     the end marker (e.g. a Bochs panic or a triple fault)
  2  the hard timeout expired before the end marker
  3  emulator or setup error: bad arguments, missing files, the emulator could not start or
     exited without writing anything to the serial port"""


class SetupError(Exception):
    """Bad arguments or a missing prerequisite (exit status 3)."""


def compile_markers(end_marker, fail_markers):
    try:
        end = re.compile(end_marker)
    except re.error as e:
        raise SetupError("bad --end-marker %r: %s" % (end_marker, e))
    fails = []
    for m in fail_markers:
        try:
            fails.append(re.compile(m))
        except re.error as e:
            raise SetupError("bad --fail-marker %r: %s" % (m, e))
    return end, fails


@dataclass
class Outcome:
    code: int
    reason: str
    seconds: float
    lines: int                  # cleaned serial lines seen
    emulator_status: object     # the emulator's exit status, or None when we killed it


class _Terminated(Exception):
    pass


def _raise_terminated(signum, frame):
    raise _Terminated()


def _signal_group_and_wait(proc, sig, grace):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def kill_group(proc, grace=3.0):
    """Kill the process group proc leads (it was started with start_new_session)."""
    if proc.poll() is None:
        _signal_group_and_wait(proc, signal.SIGTERM, grace)
    # Members of the group other than the leader (none for bochs/qemu, but be thorough).
    _signal_group_and_wait(proc, signal.SIGKILL, grace)


def watch(argv, cwd, serial_path, emulator_out, end_re, fail_res, timeout,
          name="run", stream=None, fail_grace=1.0, poll=0.05, max_echo=400, env_extra=None):
    """Run argv (with env_extra added to the environment) and watch serial_path; returns an
    Outcome. Prints serial lines to stream."""
    stream = stream if stream is not None else sys.stdout
    start = time.monotonic()
    old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    old_hup = signal.signal(signal.SIGHUP, _raise_terminated)
    out_f = open(emulator_out, "wb")
    # meson test sets MALLOC_PERTURB_ for the test program; Bochs 2.7 aborts under it
    # ("buffer overflow detected" before any output), so the emulator runs without it.
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_PERTURB_", "MALLOC_CHECK_")}
    env.update(env_extra or {})
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out_f,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    except OSError as e:
        out_f.close()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)
        return Outcome(EXIT_ERROR, "cannot start %s: %s" % (argv[0], e.strerror), 0.0, 0, None)

    pending = b""        # bytes after the last newline
    lines = 0
    any_output = False
    verdict = None       # (code, reason) once decided
    fail_deadline = None
    status = None
    log_f = None

    def handle_line(text):
        nonlocal lines, verdict, fail_deadline
        lines += 1
        shown = serial.shorten(text.rstrip(), max_echo)
        stream.write(shown + "\n")
        if verdict is not None:
            return
        for r in fail_res:
            if r.search(text):
                verdict = (EXIT_FAIL, "failure marker /%s/ at serial line %d: %s"
                           % (r.pattern, lines, serial.shorten(text, 160)))
                fail_deadline = time.monotonic() + fail_grace
                return
        if end_re.search(text):
            verdict = (EXIT_PASS, "end marker /%s/ at serial line %d" % (end_re.pattern, lines))

    def drain(final=False):
        nonlocal pending, log_f, any_output
        if log_f is None:
            try:
                log_f = open(serial_path, "rb")
            except FileNotFoundError:
                return
        data = log_f.read()
        if data:
            any_output = True
            pending += data
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                handle_line(serial.clean_text(serial.decode(raw)))
        if final and pending:
            handle_line(serial.clean_text(serial.decode(pending)))
            pending = b""
        stream.flush()

    try:
        while True:
            drain()
            now = time.monotonic()
            if verdict is not None and (verdict[0] == EXIT_PASS or now >= fail_deadline):
                break
            status = proc.poll()
            if status is not None:
                drain(final=True)
                if verdict is None:
                    if any_output:
                        verdict = (EXIT_FAIL, "%s exited (status %d) before the end marker"
                                   % (os.path.basename(argv[0]), status))
                    else:
                        verdict = (EXIT_ERROR, "%s exited (status %d) without any serial output: the "
                                   "emulator could not start; its own messages follow (fix what they name, "
                                   "or run tools/setup)" % (os.path.basename(argv[0]), status))
                break
            if now - start >= timeout:
                drain(final=True)
                if verdict is None:
                    verdict = (EXIT_TIMEOUT, "timeout after %d s without the end marker (%d serial "
                               "lines)" % (timeout, lines))
                break
            time.sleep(poll)
    except (_Terminated, KeyboardInterrupt):
        verdict = (EXIT_ERROR, "interrupted")
        raise
    finally:
        kill_group(proc)
        if log_f is not None:
            log_f.close()
        out_f.close()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)
    return Outcome(verdict[0], verdict[1], time.monotonic() - start, lines, status)


def tail(path, n=30, max_line=300, keep=None, window=256 * 1024):
    """The last n lines of a text file (cleaned), or a note when it is missing or empty.

    keep: a predicate; only the lines it accepts count (read from the last `window` bytes)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - window))
            data = f.read()
    except OSError:
        return ["(%s: missing)" % path]
    text = serial.clean_text(serial.decode(data)).rstrip("\n")
    if not text:
        return ["(%s: empty)" % path]
    lines = text.split("\n")
    if keep is not None:
        lines = [l for l in lines if keep(l)]
        if not lines:
            return ["(none in the last %d KiB of %s)" % (window // 1024, path)]
    return [serial.shorten(l, max_line) for l in lines[-n:]]


VERDICT_WORD = {EXIT_PASS: "PASS", EXIT_FAIL: "FAIL", EXIT_TIMEOUT: "TIMEOUT", EXIT_ERROR: "ERROR"}


def print_verdict(name, outcome, extra=""):
    print("%s: %s: %s (%.1f s)%s" % (name, VERDICT_WORD[outcome.code], outcome.reason,
                                     outcome.seconds, extra), flush=True)


def add_common_arguments(p, default_timeout):
    """The options run-bochs and run-qemu share."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", metavar="IMG", help="MBR disk image (tools/mkimage --image); the "
                     "run uses its own copy in the work directory")
    src.add_argument("--dir", metavar="DIR", help="ESP directory (tools/mkimage --dir); copied "
                     "into the work directory and presented as a FAT disk")
    p.add_argument("--cpus", type=int, default=2, metavar="N", help="number of CPUs (default 2)")
    p.add_argument("--mem", type=int, default=256, metavar="MiB", help="memory (default 256)")
    p.add_argument("--timeout", type=float, default=default_timeout, metavar="SEC",
                   help="hard limit for the run (default %d)" % default_timeout)
    p.add_argument("--log", metavar="FILE", help="where to keep the raw serial log (with OVMF's "
                   "ANSI escapes; default WORKDIR/serial.log)")
    p.add_argument("--end-marker", default=DEFAULT_END_MARKER, metavar="REGEX",
                   help="a cleaned serial line matching this ends the run with success "
                        "(default %r)" % DEFAULT_END_MARKER)
    p.add_argument("--fail-marker", action="append", metavar="REGEX",
                   help="a cleaned serial line matching this ends the run with failure "
                        "(repeatable; replaces the defaults %s)" % " and ".join(
                            repr(m) for m in DEFAULT_FAIL_MARKERS))
    p.add_argument("--no-fail-markers", action="store_true", help="use no failure markers")
    p.add_argument("--fail-grace", type=float, default=1.0, metavar="SEC",
                   help="keep reading this long after a failure marker (default 1)")
    p.add_argument("--extra-disk", action="append", default=[], metavar="IMG",
                   help="another disk image, attached after the boot disk (a copy is used; "
                        "repeatable). Firmware lists it after the boot disk in BootOrder")
    p.add_argument("--workdir", metavar="DIR", help="work directory (created; default a new "
                   "directory under $TMPDIR); holds the disk copy, the emulator's "
                   "configuration and logs, and is kept after the run")


def fail_markers(args):
    if args.no_fail_markers:
        return []
    return args.fail_marker if args.fail_marker else list(DEFAULT_FAIL_MARKERS)


# ---- the driver both runners use -------------------------------------------------------------

def prepare_workdir(name, args):
    """Create the work directory with fresh copies of the boot medium and extra disks.

    Returns (workdir, boot, extras): boot is ('image', path) or ('dir', path), relative to workdir."""
    for path, what in [(args.image, "--image"), (args.dir, "--dir")] + [
            (d, "--extra-disk") for d in args.extra_disk]:
        if path is None:
            continue
        ok = os.path.isdir(path) if what == "--dir" else os.path.isfile(path)
        if not ok:
            raise SetupError("%s %s: no such %s"
                             % (what, path, "directory" if what == "--dir" else "file"))
    if args.cpus < 1:
        raise SetupError("--cpus must be at least 1")
    if args.mem < 32:
        raise SetupError("--mem must be at least 32 (MiB)")
    if args.timeout <= 0:
        raise SetupError("--timeout must be positive")
    if args.workdir:
        workdir = os.path.abspath(args.workdir)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="apexvisor-%s-" % name)
    for stale in os.listdir(workdir):
        # Bochs leaves disk.img.lock behind when it is killed; a stale lock stops the next run.
        if stale in ("serial.log", "emulator.out", "bochs.log", "bochsrc", "debugger.rc", "esp") \
                or stale.startswith(("disk.img", "extra")):
            p = os.path.join(workdir, stale)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.remove(p)
    def copy_disk(src, dst):
        with open(dst, "wb") as f:
            f.truncate(os.path.getsize(src))
            copy_sparse(src, f, 0)

    if args.image:
        copy_disk(args.image, os.path.join(workdir, "disk.img"))
        boot = ("image", "disk.img")
    else:
        shutil.copytree(args.dir, os.path.join(workdir, "esp"))
        boot = ("dir", "esp")
    extras = []
    for i, d in enumerate(args.extra_disk):
        dst = "extra%d.img" % i
        copy_disk(d, os.path.join(workdir, dst))
        extras.append(dst)
    return workdir, boot, extras


def run_main(name, args, build, describe, failure_report, env=None):
    """Common body of run-bochs/run-qemu.

    build(workdir, boot, extras) -> argv; env: variables added to the emulator's environment;
    describe: one line about the setup;
    failure_report(workdir) -> [(title, lines)] printed when the run did not pass."""
    try:
        end_re, fail_res = compile_markers(args.end_marker, fail_markers(args))
        workdir, boot, extras = prepare_workdir(name, args)
        argv = build(workdir, boot, extras)
    except SetupError as e:
        print("%s: ERROR: %s" % (name, e), file=sys.stderr, flush=True)
        return EXIT_ERROR
    except OSError as e:
        print("%s: ERROR: %s: %s" % (name, e.filename or "", e.strerror), file=sys.stderr, flush=True)
        return EXIT_ERROR
    print("%s: %s; timeout %g s; workdir %s" % (name, describe, args.timeout, workdir), flush=True)
    print("%s: %s%s" % (name, "".join("%s=%s " % kv for kv in sorted((env or {}).items())),
                        " ".join(argv)), flush=True)
    serial_path = os.path.join(workdir, "serial.log")
    try:
        outcome = watch(argv, workdir, serial_path, os.path.join(workdir, "emulator.out"),
                        end_re, fail_res, args.timeout, name=name, fail_grace=args.fail_grace,
                        env_extra=env)
    except (_Terminated, KeyboardInterrupt):
        print("%s: ERROR: interrupted; emulator stopped" % name, file=sys.stderr, flush=True)
        return EXIT_ERROR
    log_note = ""
    if args.log:
        if os.path.abspath(args.log) != serial_path:
            d = os.path.dirname(os.path.abspath(args.log))
            os.makedirs(d, exist_ok=True)
            if os.path.exists(serial_path):
                shutil.copyfile(serial_path, args.log)
            else:
                open(args.log, "wb").close()
        log_note = "; serial log %s" % args.log
    else:
        log_note = "; serial log %s" % serial_path
    if outcome.code != EXIT_PASS:
        for title, report in failure_report(workdir):
            print("%s: ---- %s ----" % (name, title))
            for l in report:
                print("  " + l)
        print("%s: ---- end of logs ----" % name, flush=True)
    emu = ("; emulator status %s" % outcome.emulator_status
           if outcome.emulator_status is not None else "; emulator stopped by us")
    print_verdict(name, outcome, emu + log_note)
    return outcome.code
