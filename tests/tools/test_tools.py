#!/usr/bin/env python3
"""Host tests for apexvisor's tools: check-serial, mkimage, the runners' shared logic.

Run: python3 tests/tools/test_tools.py (or meson test --suite tools). Needs no emulator;
the mkimage tests need mkfs.fat and mtools (tools/setup) and fail without them.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
TOOLS = os.path.join(REPO, "tools")
sys.path.insert(0, TOOLS)

from apexlib import bochs, bochs3, check_names, image, qemu, runner, serial, skips, testlog  # noqa: E402
import json  # noqa: E402
from unittest import mock  # noqa: E402

ESC = "\x1b"
# A raw serial log the way OVMF writes it: screen clears, cursor moves, colours, CR LF.
RAW_LOG = (
    ESC + "[2J" + ESC + "[01;01H" + ESC + "[=3h" + ESC + "[2J" + ESC + "[01;01H"
    + "BdsDxe: loading Boot0001 \"UEFI Generic\"\r\n"
    + "apexvisor: apexvisor 0.1.0 starting [cpu0 info]\r\n"
    + ESC + "[0m" + ESC + "[37m" + ESC + "[40m" + "apexvisor: VMXON ok [cpu1 info]\r\n"
    + "apexvisor: VMXON ok [cpu0 info]\r\n"
    + "apexvisor: summary cpus=2 vmx_ok=2 [cpu0 info]\r\n"
    + "apexvisor-guest: hello from the next boot stage\r\n"
    + "apexvisor-test: end\r\n")


def run_tool(name, *args, **kw):
    return subprocess.run([os.path.join(TOOLS, name)] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=kw.get("timeout", 60),
                          stdin=subprocess.DEVNULL)


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="apexvisor-tools-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, data, mode="w"):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            f.write(data)
        return path


# ---- serial cleaning and check-serial ------------------------------------------------------

class CleanTextTest(unittest.TestCase):
    def test_strips_ovmf_escapes_and_cr(self):
        text = serial.clean_text(RAW_LOG)
        self.assertNotIn(ESC, text)
        self.assertNotIn("\r", text)
        lines = text.split("\n")
        self.assertEqual(lines[0], "BdsDxe: loading Boot0001 \"UEFI Generic\"")
        self.assertEqual(lines[2], "apexvisor: VMXON ok [cpu1 info]")

    def test_keeps_tabs_and_plain_text(self):
        self.assertEqual(serial.clean_text("a\tb [cpu0 info]\n"), "a\tb [cpu0 info]\n")

    def test_other_sequences(self):
        self.assertEqual(serial.clean_text(ESC + "]0;title\x07x" + ESC + "(By" + ESC + "cz"), "xyz")


class CheckSerialLibTest(unittest.TestCase):
    LINES = ["boot", "apexvisor: one [cpu0 info]", "apexvisor: two [cpu0 info]",
             "apexvisor: three [cpu0 info]", "apexvisor-test: end"]

    def check(self, expect):
        return serial.check(self.LINES, serial.parse_expect(textwrap.dedent(expect)))

    def test_ordered_match(self):
        r = self.check("""
            # comment
            one
            three
            ^apexvisor-test: end$
            """)
        self.assertTrue(r.ok, r.report)
        self.assertEqual((r.matched, r.ordered), (3, 3))
        self.assertIn("log line 2:", r.report)
        self.assertIn("log line 4:", r.report)

    def test_order_matters(self):
        r = self.check("three\none\n")
        self.assertFalse(r.ok)
        self.assertIn("out of order", r.report)
        self.assertIn("log line 2", r.report)

    def test_one_line_satisfies_one_ordered_rule(self):
        self.assertFalse(self.check("one\none\n").ok)

    def test_regex(self):
        self.assertTrue(self.check(r"^apexvisor: t\w+ \[cpu\d+ info\]$").ok)
        self.assertFalse(self.check(r"^apexvisor: four").ok)

    def test_literal(self):
        self.assertTrue(self.check("=two [cpu0 info]").ok)        # [ ] taken literally
        self.assertFalse(self.check("=two.[cpu0").ok)

    def test_forbidden(self):
        r = self.check("one\n!three\n")
        self.assertFalse(r.ok)
        self.assertIn("log line 4", r.report)
        self.assertTrue(self.check("one\n!fatal\n!=[cpu0 fatal]\n").ok)

    def test_anywhere(self):
        self.assertTrue(self.check("three\n*one\n").ok)
        self.assertFalse(self.check("*four\n").ok)

    def test_escaped_prefix(self):
        rules = serial.parse_expect(r"\!bang")
        self.assertEqual(rules[0].kind, "ordered")
        self.assertTrue(serial.check(["x !bang"], rules).ok)

    def test_failure_report(self):
        r = self.check("one\ntwo\nfour\nend\n")
        self.assertFalse(r.ok)
        rep = r.report
        self.assertIn("matching stopped at expect line 3 (four)", rep)
        self.assertIn("after log line 3", rep)
        self.assertRegex(rep, r">\s+3 \| apexvisor: two")        # the last match, marked
        self.assertRegex(rep, r"\s5 \| apexvisor-test: end")      # context after it
        self.assertIn("(not checked)", rep)                        # 'end' after the failure
        self.assertIn("FAIL", rep.splitlines()[-1])

    def test_closest_line_hint(self):
        lines = ["apexvisor: start", "apexvisor: summary cpus=2 vmx_ok=2 [cpu0 info]"]
        r = serial.check(lines, serial.parse_expect(r"^apexvisor: summary cpus=2 vmx_ok=1 \[cpu0"))
        self.assertFalse(r.ok)
        self.assertIn("closest line after that point: log line 2", r.report)

    def test_bad_expect(self):
        with self.assertRaisesRegex(serial.ExpectError, r":2: bad regular expression"):
            serial.parse_expect("ok\n(unclosed\n")
        with self.assertRaisesRegex(serial.ExpectError, "no rules"):
            serial.parse_expect("# nothing\n\n")
        with self.assertRaisesRegex(serial.ExpectError, "empty pattern"):
            serial.parse_expect("!\n")


class ErrorLineBanTest(unittest.TestCase):
    """Every scenario bans apexvisor's error/fatal lines unless a '+' rule names them."""
    LINES = ["apexvisor: start [cpu0 info]",
             "apexvisor: INIT IPI dropped: a target's mailbox is full [cpu1 error]",
             "apexvisor-test: end"]

    def check(self, expect, lines=None):
        return serial.check(lines or self.LINES, serial.parse_expect(textwrap.dedent(expect)))

    def test_unnamed_error_line_fails(self):
        r = self.check("start\n^apexvisor-test: end\n")
        self.assertFalse(r.ok)
        self.assertIn("unexpected error line at log line 2", r.failures[0])

    def test_fatal_line_fails(self):
        r = self.check("end\n", ["x [cpu3 fatal]", "end"])
        self.assertFalse(r.ok)

    def test_provoked_line_is_required_and_exempt(self):
        r = self.check("start\n+=INIT IPI dropped: a target's mailbox is full [cpu1 error]\nend\n")
        self.assertTrue(r.ok, r.report)
        r = self.check("start\n+=some other error [cpu0 error]\nend\n")
        self.assertFalse(r.ok)
        self.assertEqual(len(r.failures), 2)      # the '+' line is missing, the real one unnamed


class ExpectFilesTest(unittest.TestCase):
    """The repository's own EXPECT files parse and each requires at least one line."""

    def test_every_expect_file_parses(self):
        folder = os.path.join(REPO, "tests", "boot")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".expect"))
        self.assertGreater(len(names), 5)
        for n in names:
            rules = serial.load_expect(os.path.join(folder, n))
            self.assertTrue(any(r.kind in ("ordered", "anywhere") for r in rules), n)


class GuestCheckNamesTest(unittest.TestCase):
    """Issue P10: the guest programs' sources are the one list of check names, and every check
    they make is expected by name as a PASS line in some boot scenario's EXPECT file, so a
    check added without its expectation fails here (tools/apexlib/check_names.py)."""

    # Checks that cannot pass on any emulator here: they run only where APX is exposed (APX
    # silicon, QEMU/KVM with APX) and print a SKIP[no-apx-hardware] line elsewhere.
    ONLY_WITH_APX = {
        "APX offered: CPUID.(0Dh,0).EAX[19] set, CPUID.(0Dh,19) = 128 bytes at 960",
        "xsetbv APX (bit 19) accepted: APX is offered, never with MPX (verdict ok)",
        "xsetbv enables APX (XCR0 bit 19)",
        "APX: R16-R31 keep their values across CPUID and VMCALL exits",
        "APX: XSAVE after an exit holds R16-R31 in component 19, XSTATE_BV[19] set",
        "APX: R16-R31 initialised by XRSTOR stay zero across an exit",
        "xsetbv disables APX again",
    }

    @classmethod
    def setUpClass(cls):
        cls.checks = check_names.guest_checks(os.path.join(REPO, "tests", "guest"))
        folder = os.path.join(REPO, "tests", "boot")
        cls.rules = [r for n in sorted(os.listdir(folder)) if n.endswith(".expect")
                     for r in serial.load_expect(os.path.join(folder, n)) if r.kind != "forbidden"]

    def expected(self, name):
        line = "apexvisor-guest: PASS " + name
        return any(r.matches(line) for r in self.rules)

    def test_the_sources_name_their_checks(self):
        names = [n for names, _, _ in self.checks.values() for n in names]
        self.assertGreater(len(names), 100)  # the extraction works at all
        self.assertIn("CR4.VMXE reads as 0", names)

    def test_every_named_check_is_expected(self):
        missing = ["%s: %s" % (f, n) for f, (names, _, _) in self.checks.items() for n in names
                   if n not in self.ONLY_WITH_APX and not self.expected(n)]
        self.assertEqual(missing, [], "checks no EXPECT file expects as PASS lines")

    def test_the_apx_only_checks_exist_and_are_not_expected_here(self):
        names = {n for names, _, _ in self.checks.values() for n in names}
        self.assertEqual(self.ONLY_WITH_APX - names, set(), "allowlisted names no source has any more")
        for n in self.ONLY_WITH_APX:
            self.assertFalse(self.expected(n), n)

    def test_computed_names_are_declared_and_expected(self):
        # Every computed call site is declared in check_names.COMPUTED (a new one fails here
        # until it is), each declared format is still a literal of its file, and every name
        # it expands to is expected as a PASS line.
        counted = {f: computed for f, (_, _, computed) in self.checks.items() if computed}
        declared = {f: sites for f, (sites, _) in check_names.COMPUTED.items()}
        self.assertEqual(counted, declared, "computed check names per file: declare them in COMPUTED")
        names = check_names.computed_names(os.path.join(REPO, "tests", "guest"))
        self.assertGreater(sum(len(v) for v in names.values()), 100)
        missing = ["%s: %s" % (f, n) for f, ns in names.items() for n in ns if not self.expected(n)]
        self.assertEqual(missing, [], "computed checks no EXPECT file expects as PASS lines")

    def test_computed_formats_expand_as_the_guest_prints_them(self):
        self.assertEqual(check_names.expand("%s [reg] stores %u bytes and nothing more", ("SGDT", 10)),
                         "SGDT [reg] stores 10 bytes and nothing more")
        self.assertEqual(check_names.expand("AP %llu (start %u)", (1, 2)), "AP 1 (start 2)")
        self.assertEqual(check_names.expand("50% literal", ()), "50% literal")

    def test_failure_only_checks_are_never_expected_to_pass(self):
        for f, (_, failure_only, _) in self.checks.items():
            for n in failure_only:
                self.assertFalse(self.expected(n), "%s: %s" % (f, n))

    def test_extraction(self):
        src = textwrap.dedent("""\
            t.check(a == b, "one " "two", "detail %llu", x);  // check(x, "comment")
            check(false, "precondition");
            check(ok, name);
            t.recheck(ok, "other function");
            check(f(a, (b, c)), "with \\"quotes\\" and, commas", "%llu", g(1, 2));
            """)
        names, failure_only, computed = check_names.checks_in(src)
        self.assertEqual(names, ["one two", 'with "quotes" and, commas'])
        self.assertEqual(failure_only, ["precondition"])
        self.assertEqual(computed, 1)


class CheckSerialIncludeTest(TempDirCase):
    LINES = CheckSerialLibTest.LINES

    def test_included_rules_keep_their_place(self):
        self.write("parts/middle.inc", "two\n@include inner.inc\n")
        self.write("parts/inner.inc", "three\n")
        top = self.write("top.expect", "one\n@include parts/middle.inc\nend\n")
        rules = serial.load_expect(top)
        self.assertEqual([r.text for r in rules], ["one", "two", "three", "end"])
        self.assertTrue(serial.check(self.LINES, rules).ok)

    def test_failure_names_the_included_file(self):
        self.write("shared.inc", "# a comment\nthree\ntwo\n")
        top = self.write("top.expect", "one\n@include shared.inc\n")
        r = serial.check(self.LINES, serial.load_expect(top))
        self.assertFalse(r.ok)
        self.assertIn("shared.inc line 3", r.report)

    def test_include_errors(self):
        with self.assertRaisesRegex(serial.ExpectError, "cannot read @include .*missing.inc"):
            serial.load_expect(self.write("a.expect", "one\n@include missing.inc\n"))
        self.write("loop.inc", "@include loop.inc\n")
        with self.assertRaisesRegex(serial.ExpectError, "levels deep"):
            serial.load_expect(self.write("b.expect", "@include loop.inc\n"))
        with self.assertRaisesRegex(serial.ExpectError, "needs a file name"):
            serial.load_expect(self.write("c.expect", "@include\n"))
        with self.assertRaisesRegex(serial.ExpectError, "no folder"):
            serial.parse_expect("@include x.inc\n")


class CheckSerialCliTest(TempDirCase):
    def test_pass_on_raw_ansi_log(self):
        log = self.write("serial.log", RAW_LOG.encode(), "wb")
        exp = self.write("a.expect", textwrap.dedent(r"""
            ^BdsDxe: loading
            ^apexvisor: summary cpus=2 vmx_ok=2 \[cpu0 info\]$
            *^apexvisor: VMXON ok \[cpu1 info\]$
            =apexvisor-guest: hello from the next boot stage
            ^apexvisor-test: end$
            !\[cpu\d+ fatal\]
            """))
        r = run_tool("check-serial", log, exp)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("PASS", r.stdout.splitlines()[-1])

    def test_wrong_line_fails(self):
        log = self.write("serial.log", RAW_LOG.encode(), "wb")
        exp = self.write("b.expect", "^apexvisor: summary cpus=2 vmx_ok=1\n^apexvisor-test: end\n")
        r = run_tool("check-serial", log, exp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("vmx_ok=1", r.stdout)
        self.assertIn("matching stopped at expect line 1", r.stdout)

    def test_forbidden_fails(self):
        log = self.write("serial.log", RAW_LOG + "apexvisor: oops [cpu1 fatal]\r\n")
        exp = self.write("c.expect", "end\n!\\[cpu\\d+ fatal\\]\n")
        r = run_tool("check-serial", log, exp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("log line 8: apexvisor: oops [cpu1 fatal]", r.stdout)

    def test_usage_errors(self):
        log = self.write("serial.log", RAW_LOG)
        self.assertEqual(run_tool("check-serial", log, os.path.join(self.tmp, "none")).returncode, 2)
        bad = self.write("bad.expect", "ok\n[\n")
        r = run_tool("check-serial", log, bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.expect:2", r.stdout)


# ---- mkimage ----------------------------------------------------------------------------------

HAVE_FAT_TOOLS = all(shutil.which(t) for t in ("mkfs.fat", "mmd", "mcopy", "mdir", "mtype"))


def mtools(*argv):
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, check=True).stdout


class MkimageTest(TempDirCase):
    def setUp(self):
        super().setUp()
        if not HAVE_FAT_TOOLS:
            self.fail("mkfs.fat / mtools not installed: run tools/setup (packages dosfstools, mtools)")
        self.efi = self.write("apexvisor.efi", b"MZ" + bytes(4094), "wb")
        self.guest = self.write("hello.efi", b"MZ guest" + bytes(100), "wb")
        self.cfg = self.write("test.cfg", "chainload=\\EFI\\apexvisor\\guest.efi\n")

    def test_image(self):
        img = os.path.join(self.tmp, "out", "a.img")
        r = run_tool("mkimage", "--efi", self.efi, "--config", self.cfg,
                     "--next", "guest.efi=" + self.guest, "--image", img)
        self.assertEqual(r.returncode, 0, r.stdout)
        size = os.path.getsize(img)
        self.assertEqual(size, 64 * 16 * 63 * 512)
        with open(img, "rb") as f:
            mbr = f.read(512)
        self.assertEqual(mbr[510:512], b"\x55\xaa")
        parts = image.read_mbr_partitions(img)
        self.assertEqual(parts, [(0xEF, 2048, 64 * 16 * 63 - 2048)])
        at = img + "@@%d" % (2048 * 512)
        listing = mtools("mdir", "-i", at, "::/EFI/BOOT")
        self.assertRegex(listing, r"BOOTX64\s+EFI\s+4096")
        self.assertIn("apexvisor.cfg", mtools("mdir", "-i", at, "::/EFI/apexvisor"))
        self.assertEqual(mtools("mtype", "-i", at, "::/EFI/apexvisor/apexvisor.cfg"),
                         "chainload=\\EFI\\apexvisor\\guest.efi\n")
        self.assertTrue(mtools("mtype", "-i", at, "::/EFI/apexvisor/guest.efi").startswith("MZ guest"))

    def test_size_is_whole_cylinders(self):
        img = os.path.join(self.tmp, "b.img")
        r = run_tool("mkimage", "--efi", self.efi, "--image", img, "--size-mib", "40")
        self.assertEqual(r.returncode, 0, r.stdout)
        sectors = os.path.getsize(img) // 512
        self.assertEqual(sectors % (16 * 63), 0)
        self.assertGreaterEqual(sectors * 512, 40 * 1024 * 1024)

    def test_dir(self):
        out = os.path.join(self.tmp, "esp")
        r = run_tool("mkimage", "--efi", self.efi, "--config", self.cfg,
                     "--next", "linux/vmlinuz=" + self.guest, "--file", "startup.nsh=" + self.cfg,
                     "--dir", out)
        self.assertEqual(r.returncode, 0, r.stdout)
        for p in ("EFI/BOOT/BOOTX64.EFI", "EFI/apexvisor/apexvisor.cfg",
                  "EFI/apexvisor/linux/vmlinuz", "startup.nsh"):
            self.assertTrue(os.path.isfile(os.path.join(out, p)), p)

    def test_errors(self):
        img = os.path.join(self.tmp, "c.img")
        r = run_tool("mkimage", "--efi", self.cfg, "--image", img)          # not a PE file
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a PE/EFI image", r.stdout)
        r = run_tool("mkimage", "--efi", self.efi, "--next", "../x=" + self.guest, "--image", img)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a relative path", r.stdout)
        r = run_tool("mkimage", "--efi", self.efi, "--next", "guest.efi", "--image", img)
        self.assertEqual(r.returncode, 1)
        self.assertIn("NAME=FILE", r.stdout)
        big = self.write("big", b"\1" * (3 * 1024 * 1024), "wb")
        r = run_tool("mkimage", "--efi", self.efi, "--next", "big=" + big, "--image", img,
                     "--size-mib", "4")
        self.assertEqual(r.returncode, 1)
        self.assertIn("too small", r.stdout)
        self.assertFalse(os.path.exists(img))


# ---- the runners' shared logic ------------------------------------------------------------------

# A fake emulator: writes serial lines to serial.log in its cwd on a schedule, records its
# pid and the pid of a child it leaves in its process group, then idles or exits.
FAKE_EMULATOR = r'''
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("pids", "w").write("%d %d" % (os.getpid(), child.pid))
open("env", "w").write(os.environ.get("MALLOC_PERTURB_", "unset"))
mode = sys.argv[1]
with open("serial.log", "wb", buffering=0) as f:
    if mode == "silent-exit":
        sys.exit(5)
    f.write(b"\x1b[2J\x1b[01;01HBdsDxe: starting\r\n")
    time.sleep(0.2)
    if mode == "end":
        f.write(b"apexvisor: hi [cpu0 info]\r\n\x1b[0mapexvisor-test: end\r\n")
    elif mode == "fatal":
        f.write(b"apexvisor: boom [cpu1 fatal]\r\nrip=0x1234\r\n")
    elif mode == "exit":
        sys.exit(1)
time.sleep(120)
'''


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class RunnerWatchTest(TempDirCase):
    def watch(self, mode, timeout=20):
        fake = self.write("fake.py", FAKE_EMULATOR)
        end_re, fail_res = runner.compile_markers(runner.DEFAULT_END_MARKER,
                                                  runner.DEFAULT_FAIL_MARKERS)
        out = open(os.path.join(self.tmp, "stream.txt"), "w")
        self.addCleanup(out.close)
        t0 = time.monotonic()
        outcome = runner.watch([sys.executable, fake, mode], self.tmp,
                               os.path.join(self.tmp, "serial.log"),
                               os.path.join(self.tmp, "emulator.out"), end_re, fail_res,
                               timeout, stream=out, fail_grace=0.3)
        self.elapsed = time.monotonic() - t0
        out.flush()
        with open(os.path.join(self.tmp, "stream.txt")) as f:
            self.stream = f.read()
        with open(os.path.join(self.tmp, "pids")) as f:
            pids = [int(x) for x in f.read().split()]
        time.sleep(0.1)
        for pid in pids:
            self.assertFalse(alive(pid), "process %d of the emulator's group survived" % pid)
        return outcome

    def test_end_marker_ends_run(self):
        os.environ["MALLOC_PERTURB_"] = "85"           # as meson test sets it
        self.addCleanup(os.environ.pop, "MALLOC_PERTURB_", None)
        o = self.watch("end")
        with open(os.path.join(self.tmp, "env")) as f:
            self.assertEqual(f.read(), "unset")          # Bochs aborts under MALLOC_PERTURB_
        self.assertEqual(o.code, runner.EXIT_PASS, o.reason)
        self.assertLess(self.elapsed, 10)
        self.assertIsNone(o.emulator_status)             # we stopped it
        self.assertIn("apexvisor-test: end\n", self.stream)
        self.assertIn("BdsDxe: starting\n", self.stream)
        self.assertNotIn(ESC, self.stream)                # streamed copy is cleaned

    def test_fail_marker(self):
        o = self.watch("fatal")
        self.assertEqual(o.code, runner.EXIT_FAIL)
        self.assertIn("[cpu1 fatal]", o.reason)
        self.assertIn("rip=0x1234", self.stream)          # the grace period kept the dump

    def test_timeout(self):
        o = self.watch("idle", timeout=1.5)
        self.assertEqual(o.code, runner.EXIT_TIMEOUT)
        self.assertLess(self.elapsed, 10)

    def test_exit_before_end_marker(self):
        o = self.watch("exit")
        self.assertEqual(o.code, runner.EXIT_FAIL)
        self.assertEqual(o.emulator_status, 1)

    def test_exit_without_output(self):
        o = self.watch("silent-exit")
        self.assertEqual(o.code, runner.EXIT_ERROR)

    def test_cannot_start(self):
        end_re, fail_res = runner.compile_markers(runner.DEFAULT_END_MARKER, [])
        o = runner.watch([os.path.join(self.tmp, "no-such-emulator")], self.tmp,
                         os.path.join(self.tmp, "serial.log"), os.path.join(self.tmp, "out"),
                         end_re, fail_res, 5)
        self.assertEqual(o.code, runner.EXIT_ERROR)

    def test_bad_marker(self):
        with self.assertRaises(runner.SetupError):
            runner.compile_markers("(", [])


class QemuAccelTest(TempDirCase):
    def probe(self, vendor="GenuineIntel", flags="fpu vmx sse", nested="Y\n", dev=True):
        d = self.write("kvm", "") if dev else os.path.join(self.tmp, "nokvm")
        info = self.write("cpuinfo", "vendor_id\t: %s\nflags\t\t: %s\n" % (vendor, flags))
        n = self.write("nested", nested) if nested is not None else os.path.join(self.tmp, "none")
        return qemu.kvm_nested_vmx(dev=d, cpuinfo=info, nested=n)

    def test_detection(self):
        self.assertTrue(self.probe()[0])
        self.assertTrue(self.probe(nested="1\n")[0])
        ok, why = self.probe(vendor="AuthenticAMD", flags="svm")
        self.assertFalse(ok)
        self.assertIn("AuthenticAMD", why)
        self.assertIn("nested=N", self.probe(nested="N\n")[1])
        self.assertIn("not loaded", self.probe(nested=None)[1])
        self.assertIn("does not exist", self.probe(dev=False)[1])
        self.assertIn("vmx flag", self.probe(flags="fpu sse")[1])

    def test_choose(self):
        yes = lambda: (True, "ok")          # noqa: E731
        no = lambda: (False, "AMD host")    # noqa: E731
        self.assertEqual(qemu.choose_accel("auto", yes)[0], "kvm")
        self.assertEqual(qemu.choose_accel("auto", no), ("tcg", "KVM nested VMX unavailable "
                                                         "(AMD host); TCG offers no VMX"))
        self.assertEqual(qemu.choose_accel("tcg", yes)[0], "tcg")
        with self.assertRaisesRegex(runner.SetupError, "AMD host"):
            qemu.choose_accel("kvm", no)

    def test_argv(self):
        kvm = qemu.qemu_argv(("image", "disk.img"), ["extra0.img"], 4, 512, "kvm")
        self.assertIn("-enable-kvm", kvm)
        self.assertEqual(kvm[kvm.index("-cpu") + 1], "host")
        self.assertEqual(kvm[kvm.index("-smp") + 1], "4")
        self.assertIn("isa-debug-exit,iobase=0xf4,iosize=0x04", kvm)
        self.assertEqual([a for a in kvm if a.startswith("format=raw")],
                         ["format=raw,file=disk.img", "format=raw,file=extra0.img"])
        tcg = qemu.qemu_argv(("dir", "esp"), [], 1, 256, "tcg")
        self.assertNotIn("-enable-kvm", tcg)
        self.assertEqual(tcg[tcg.index("-cpu") + 1], "max")
        self.assertIn("format=raw,file=fat:rw:esp", tcg)


class BochsrcTest(unittest.TestCase):
    def test_known_good_configuration(self):
        rc = bochs.bochsrc(("image", "disk.img"), [], 4, 256).splitlines()
        for line in ["megs: 256", "cpu: model=corei7_skylake_x, count=4, ips=50000000",
                     "com1: enabled=1, mode=file, dev=serial.log",
                     'display_library: rfb, options="timeout=0"', "log: bochs.log",
                     "sound: driver=dummy", "speaker: enabled=0",
                     "port_e9_hack: enabled=1",
                     "ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14",
                     "ata0-master: type=disk, path=disk.img, mode=flat", "boot: disk",
                     "clock: sync=none", "panic: action=fatal", "magic_break: enabled=1",
                     "vgaromimage: file=/usr/share/vgabios/vgabios.bin"]:
            self.assertIn(line, rc)
        self.assertTrue(any(l.startswith("romimage: file=/usr/share/ovmf/OVMF.fd, address=0x")
                            for l in rc))

    def test_vvfat_and_extra_disks(self):
        rc = bochs.bochsrc(("dir", "esp"), ["extra0.img", "extra1.img"], 1, 256)
        self.assertIn("ata0-master: type=disk, path=esp, mode=vvfat", rc)
        self.assertIn("ata0-slave: type=disk, path=extra0.img, mode=flat", rc)
        self.assertIn("ata1-master: type=disk, path=extra1.img, mode=flat", rc)
        self.assertIn("ata1: enabled=1", rc)
        with self.assertRaises(runner.SetupError):
            bochs.bochsrc(("image", "d"), ["a", "b", "c", "d"], 1, 256)


class BochsFailureReportTest(TempDirCase):
    def test_errors_and_panics_first(self):
        self.write("bochs.log", "".join(
            ["00000000100i[CPU0  ] RDMSR: Read 00000000:fee00900 from MSR_APICBASE\n"] * 50
            + ["00000000200e[CPU1  ] VMFAIL: VMCS guest state: CR0 fixed bits\n"]
            + ["00000000300i[CPU0  ] RDMSR: Read 00000000:fee00900 from MSR_APICBASE\n"] * 50))
        self.write("emulator.out", "Bochs x86 Emulator 2.7\n")
        report = dict(bochs.failure_report(self.tmp))
        serious = report["errors and panics in bochs.log (last 25)"]
        self.assertEqual(serious, ["00000000200e[CPU1  ] VMFAIL: VMCS guest state: CR0 fixed bits"])
        self.assertEqual(len(report["last lines of bochs.log"]), 8)


class Bochs3Test(TempDirCase):
    """Bochs 3.0, built by tools/setup-bochs3 into a cache keyed by tools/bochs3-build.conf."""

    CONF = "# a comment\nSOURCE_VERSION=3.0+dfsg-1\nCONFIGURE=--enable-vmx=2 --with-rfb\n"

    def cache(self):
        return mock.patch.dict(os.environ, {"APEXVISOR_CACHE_DIR": os.path.join(self.tmp, "cache")})

    def test_key_follows_the_settings_not_the_comments(self):
        a = bochs3.key(self.write("a.conf", self.CONF))
        b = bochs3.key(self.write("b.conf", "# another comment\n\n" + self.CONF.replace("# a comment\n", "")))
        c = bochs3.key(self.write("c.conf", self.CONF.replace("--with-rfb", "--with-x11")))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertEqual(len(a), 12)
        self.assertEqual(bochs3.settings(os.path.join(self.tmp, "a.conf"))["CONFIGURE"],
                         "--enable-vmx=2 --with-rfb")

    def test_the_real_conf_has_what_setup_reads(self):
        conf = bochs3.settings()
        for k in ("SOURCE_PACKAGE", "SOURCE_VERSION", "SOURCE_SUITE", "ORIG_TARBALL", "CONFIGURE"):
            self.assertTrue(conf.get(k), k)
        self.assertIn("--enable-vmx=2", conf["CONFIGURE"].split())

    def test_state_missing_unavailable_ready(self):
        with self.cache():
            d = bochs3.build_dir()
            self.assertTrue(d.startswith(os.path.join(self.tmp, "cache", "bochs-3.0-")))
            self.assertEqual(bochs3.state()[0], "missing")
            self.assertIn("run tools/setup", bochs.missing_prerequisites("3.0"))
            self.assertIsNone(bochs.unavailable("3.0"))
            self.assertEqual(bochs.newest_present(), "2.7")
            self.write(os.path.relpath(bochs3.unavailable_file(), self.tmp), "index lacks\nit\n")
            self.assertEqual(bochs3.state(), ("unavailable", "index lacks it"))
            self.assertIn("index lacks it", bochs.unavailable("3.0"))
            # a build without its stamp (interrupted) is not ready
            exe = self.write(os.path.relpath(bochs3.binary(), self.tmp), "#!/bin/sh\n")
            os.chmod(exe, 0o755)
            self.assertNotEqual(bochs3.state()[0], "ready")
            self.write(os.path.relpath(os.path.join(d, "complete"), self.tmp), "")
            self.assertEqual(bochs3.state(), ("ready", d))
            self.assertIsNone(bochs.unavailable("3.0"))
            self.assertEqual(bochs.newest_present(), "3.0")

    def test_commands(self):
        with self.cache():
            argv, env = bochs.command("3.0")
            self.assertEqual(argv, [bochs3.binary(), "-q", "-f", "bochsrc"])  # no debugger
            self.assertEqual(env, {"BXSHARE": bochs3.bxshare()})
            self.assertTrue(env["BXSHARE"].endswith("/bios"))
        argv, env = bochs.command("2.7")
        self.assertEqual(argv[1:], ["-q", "-f", "bochsrc", "-rc", "debugger.rc"])
        self.assertEqual(env, {})

    def run_scenario(self, *extra):
        env = dict(os.environ, APEXVISOR_CACHE_DIR=os.path.join(self.tmp, "cache"))
        return subprocess.run([os.path.join(TOOLS, "run-scenario"), "--platform", "bochs",
                               "--name", "b3", "--efi", "none.efi", "--expect", "none.expect"]
                              + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env, timeout=60)

    def test_scenario_skips_for_the_platform_fact_only(self):
        with self.cache():
            unavailable = bochs3.unavailable_file()
        r = self.run_scenario("--bochs", "3.0")          # not built: a failure
        self.assertEqual(r.returncode, skips.EXIT_SKIP, r.stdout)
        self.assertEqual(skips.parse(r.stdout)[0], skips.MISSING_PREREQUISITE)
        self.assertFalse(skips.verdict(r.stdout)[0])
        self.write(os.path.relpath(unavailable, self.tmp), "the mirror answers 404 for the tarball\n")
        r = self.run_scenario("--bochs", "3.0")          # source unavailable: an allowed skip
        self.assertEqual(r.returncode, skips.EXIT_SKIP, r.stdout)
        self.assertEqual(skips.parse(r.stdout)[0], skips.NO_BOCHS3_SOURCE)
        self.assertIn("404 for the tarball", skips.parse(r.stdout)[1])
        self.assertTrue(skips.verdict(r.stdout)[0])
        r = self.run_scenario("--bochs", "2.7", "--platform", "qemu-tcg")
        self.assertEqual(r.returncode, 99, r.stdout)     # --bochs needs --platform bochs

    def test_setup_check_reports_the_state(self):
        env = dict(os.environ, APEXVISOR_CACHE_DIR=os.path.join(self.tmp, "cache"))
        run = lambda: subprocess.run([os.path.join(TOOLS, "setup-bochs3"), "--check"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, timeout=60)
        r = run()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("missing: not built in", r.stdout)
        with self.cache():
            self.write(os.path.relpath(bochs3.unavailable_file(), self.tmp), "no index\n")
        r = run()
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("source unavailable (no index)", r.stdout)


class SkipPolicyTest(TempDirCase):
    """tools/test's closing line: only allowlisted platform facts may skip."""

    def log(self, *records):
        path = os.path.join(self.tmp, "testlog.json")
        with open(path, "w") as f:
            for name, result, stdout in records:
                f.write(json.dumps({"name": name, "result": result, "stdout": stdout}) + "\n")
        return path

    def test_allowed_fact_is_a_skip(self):
        counts, notes = testlog.summarize(self.log(
            ("a", "OK", ""),
            ("kvm", "SKIP", "run-scenario kvm: " + skips.line("no-kvm-nested-vmx", "no /dev/kvm"))))
        self.assertEqual(counts, {"passed": 1, "failed": 0, "skipped": 1})
        self.assertEqual(testlog.closing_line(counts), "tests: 1 passed, 0 failed, 1 skipped")
        self.assertIn("no /dev/kvm", notes[0])

    def test_other_skips_are_failures_with_their_reason(self):
        counts, notes = testlog.summarize(self.log(
            ("fuzz", "SKIP", skips.line(skips.MISSING_PREREQUISITE, "clang-19 missing")),
            ("bare", "SKIP", "SKIP: shared/ not found"),
            ("made-up", "SKIP", "SKIP[no-time-today]: later"),
            ("bad", "FAIL", "")))
        self.assertEqual(counts, {"passed": 0, "failed": 4, "skipped": 0})
        text = "\n".join(notes)
        self.assertIn("fuzz: unexpected skip: missing-prerequisite: clang-19 missing", text)
        self.assertIn("bare: unexpected skip: skipped without a SKIP[<fact>] line", text)
        self.assertIn("made-up: unexpected skip: no-time-today: later (not an allowed", text)

    def test_an_interrupted_run_is_a_failure(self):
        log = self.log(("a", "OK", ""))
        self.assertEqual(testlog.summarize(log, 0)[0]["failed"], 0)
        counts, notes = testlog.summarize(log, 130)  # SIGINT
        self.assertEqual(counts["failed"], 1)
        self.assertIn("did not complete", notes[-1])
        self.assertEqual(testlog.summarize(self.log(("a", "OK", ""), ("b", "FAIL", "")), 1)[0]["failed"], 1)

    def test_the_last_skip_line_decides_tagged_or_not(self):
        out = "echo: SKIP[no-kvm-nested-vmx]: quoted from a log\n" + skips.line("no-kvm-nested-vmx", "x") + "\nSKIP: late\n"
        self.assertEqual(skips.parse(out), (None, "late"))
        self.assertFalse(skips.verdict(out)[0])
        self.assertEqual(skips.parse("run-scenario k: " + skips.line("no-apx-hardware", "y")), ("no-apx-hardware", "y"))
        self.assertEqual(skips.parse("text SKIP[no-apx-hardware]: not at the start"), (None, None))

    def test_no_log_or_no_test_is_a_failure(self):
        counts, _ = testlog.summarize(os.path.join(self.tmp, "missing.json"))
        self.assertEqual(counts["failed"], 1)
        counts, notes = testlog.summarize(self.log())
        self.assertEqual(counts["failed"], 1)
        self.assertIn("ran no test", notes[0])

    def test_reasons_travel_as_data(self):
        # quotes, newlines and code-like text in a reason reach one line unchanged otherwise
        reason = 'ld: cannot find "-lclang_rt"\n  raise SystemExit(0)'
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "report-skip"),
                            "missing-prerequisite", reason], stdout=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, skips.EXIT_SKIP)
        self.assertEqual(r.stdout.count("\n"), 1)
        self.assertEqual(skips.parse(r.stdout),
                         ("missing-prerequisite", 'ld: cannot find "-lclang_rt" | raise SystemExit(0)'))

    def test_readme_lists_the_allowlist(self):
        with open(os.path.join(REPO, "README.md")) as f:
            readme = f.read()
        for fact in skips.ALLOWED:
            self.assertTrue("`%s`" % fact in readme, "README.md does not name the allowed skip `%s`" % fact)


class ExitTableTest(TempDirCase):
    """tools/exit-table: README.md's exit table is vmm/exit_audit.def, and a drift is caught."""

    def test_readme_matches_the_audit(self):
        r = run_tool("exit-table", "--check")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_a_changed_row_is_caught(self):
        for sub in ("vmx", "vmm"):
            os.makedirs(os.path.join(self.tmp, sub))
        shutil.copy(os.path.join(REPO, "vmx", "exit_reasons.def"), os.path.join(self.tmp, "vmx"))
        shutil.copy(os.path.join(REPO, "README.md"), self.tmp)
        with open(os.path.join(REPO, "vmm", "exit_audit.def")) as f:
            audit = f.read()
        changed = audit.replace('EXIT_AUDIT(hlt, never, "HLT exiting is 0")', 'EXIT_AUDIT(hlt, guest, "resumed")')
        self.assertNotEqual(changed, audit)
        with open(os.path.join(self.tmp, "vmm", "exit_audit.def"), "w") as f:
            f.write(changed)
        r = run_tool("exit-table", "--check", "--repo", self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("differs", r.stdout)
        # A reason without a row is refused outright.
        with open(os.path.join(self.tmp, "vmm", "exit_audit.def"), "w") as f:
            f.write(audit.replace('EXIT_AUDIT(hlt, never, "HLT exiting is 0")\n', ""))
        r = run_tool("exit-table", "--check", "--repo", self.tmp)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("no row for hlt", r.stdout)


class HelpTest(unittest.TestCase):
    def test_every_tool_has_help(self):
        for tool in ("setup", "setup-bochs3", "mkimage", "run-bochs", "run-qemu", "check-serial",
                     "run-scenario", "test", "boot", "fresh-machine", "exit-table"):
            r = run_tool(tool, "--help")
            self.assertEqual(r.returncode, 0, tool + ": " + r.stdout)
            self.assertIn("sage", r.stdout, tool)           # Usage / usage

    def test_missing_required_arguments_fail(self):
        for tool in ("mkimage", "run-bochs", "run-qemu", "check-serial", "run-scenario"):
            self.assertNotEqual(run_tool(tool).returncode, 0, tool)


if __name__ == "__main__":
    unittest.main(verbosity=2)
