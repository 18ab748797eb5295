#!/usr/bin/env python3
"""The built image touches R16-R31 only in the generated exit stub (issue P11, design.md).

apexvisor's code runs in VMX root with the guest's XCR0 loaded: with the guest's XCR0.APX=0
an EGPR access there is #UD. So every instruction of the image that names R16-R31 must lie
in the exit stub's symbol (apex_vm_exit_entry), and there must be exactly one save and one
restore per EGPR of arch/gpr_table.def. llvm-objdump-19 decodes REX2 (objdump 2.40 does not).

  egpr_only_in_stub.py --objdump llvm-objdump-19 --table arch/gpr_table.def --stub SYMBOL IMAGE.so
  egpr_only_in_stub.py --guard CLANG --header arch/no_apx_codegen.h
      shows the build-time guard works: compiling with -mapxf and the forced header fails.
Exit status: 0 as expected, 1 otherwise (what was found is printed).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

EGPR = re.compile(r"%r(1[6-9]|2[0-9]|3[01])[bwd]?\b")
SYMBOL = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def egprs_in_table(table):
    with open(table) as f:
        return sum(1 for line in f if re.match(r"GPR_EXTENDED\(\s*\d+,", line))


def check_image(objdump, table, stub, image):
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", image], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        print("FAIL: %s -d %s: %s" % (objdump, image, out.stderr.strip()[:300]))
        return 1
    symbol = "?"
    by_symbol = {}
    for line in out.stdout.splitlines():
        m = SYMBOL.match(line)
        if m:
            symbol = m.group(1)
            continue
        if EGPR.search(line):
            by_symbol.setdefault(symbol, []).append(line.strip())
    want = 2 * egprs_in_table(table)
    if want != 32:
        print("FAIL: %s lists %d EGPRs, expected 16" % (table, want // 2))
        return 1
    outside = {s: l for s, l in by_symbol.items() if s != stub}
    in_stub = len(by_symbol.get(stub, []))
    for s, lines in outside.items():
        print("FAIL: %d EGPR instruction(s) outside the exit stub, in %s, e.g. %s" % (len(lines), s, lines[0]))
    if in_stub != want:
        print("FAIL: %d EGPR instructions in %s, expected %d (one save and one restore per EGPR)"
              % (in_stub, stub, want))
    if outside or in_stub != want:
        return 1
    print("ok  %s: %d EGPR instructions, all in %s (16 saves, 16 restores); none elsewhere"
          % (os.path.basename(image), in_stub, stub))
    return 0


def check_guard(clang, header):
    """The forced header must stop a build that generates APX code, and let others through."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write("int f(void) { return 0; }\n")
        base = [clang, "-c", "-include", header, src, "-o", os.path.join(d, "t.o")]
        plain = subprocess.run(base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        apx = subprocess.run(base + ["-mapxf"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if plain.returncode != 0:
        print("FAIL: the guard header stops an ordinary build: " + plain.stdout.strip()[:300])
        return 1
    if apx.returncode == 0 or "must not be compiled for APX" not in apx.stdout:
        print("FAIL: a build with -mapxf went through the guard (status %d): %s"
              % (apx.returncode, apx.stdout.strip()[:300]))
        return 1
    print("ok  %s: -mapxf refused at build time (#error), an ordinary build passes" % os.path.basename(header))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objdump")
    ap.add_argument("--table")
    ap.add_argument("--stub", default="apex_vm_exit_entry")
    ap.add_argument("--guard", metavar="CLANG")
    ap.add_argument("--header")
    ap.add_argument("images", nargs="*")
    a = ap.parse_args()
    if a.guard:
        return check_guard(a.guard, a.header)
    status = 0
    for image in a.images:
        status |= check_image(a.objdump, a.table, a.stub, image)
    return status


if __name__ == "__main__":
    sys.exit(main())
