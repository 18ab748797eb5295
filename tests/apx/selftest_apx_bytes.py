#!/usr/bin/env python3
"""The selftest's APX checks, decoded: they cannot run here (no APX silicon), so their bytes are checked.

tests/guest/selftest_checks.cpp run_apx_checks() spells its EGPR instructions as bytes
(REX2: GNU as 2.40 knows no R16-R31). Where APX is offered it loads a pattern into R16..R31,
lets VM exits happen, and stores them back, XSAVEs component 19 and XRSTORs its init state.
This decodes the built selftest with llvm-objdump-19 (an independent APX decoder) and checks
that run_apx_checks holds exactly what the checks mean: three loads of every EGPR with its
pattern (round trip, XSAVE, XRSTOR), two stores of every EGPR to its slot of the output
array (after the exits, after the XRSTOR), one XSAVE64 and one XRSTOR64 through R9, and no
other EGPR instruction.

  selftest_apx_bytes.py --objdump llvm-objdump-19 selftest.so
Exit status 0 when all hold, 1 otherwise (what was found is printed).
"""
import argparse
import re
import subprocess
import sys

SYMBOL = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
EGPR = re.compile(r"%r(1[6-9]|2[0-9]|3[01])\b")
LOAD = re.compile(r"^movabsq\s+\$0x([0-9a-f]+), %r(\d+)")
STORE = re.compile(r"^movq\s+%r(\d+), (?:0x([0-9a-f]+))?\(%rax\)")


def pattern(n):
    """tests/guest/selftest_checks.cpp egpr_pattern()."""
    return 0x5A5A000000000000 | (n << 32) | (0x01010101 * n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objdump", required=True)
    ap.add_argument("image")
    a = ap.parse_args()
    out = subprocess.run([a.objdump, "-d", "--no-show-raw-insn", a.image], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        print("FAIL: %s -d: %s" % (a.objdump, out.stderr.strip()[:300]))
        return 1
    body, symbol = [], None
    for line in out.stdout.splitlines():
        m = SYMBOL.match(line)
        if m:
            symbol = m.group(1)
            continue
        if symbol and "run_apx_checks" in symbol:
            text = line.split(":", 1)[1].strip() if ":" in line else ""
            if text:
                body.append(re.sub(r"\s+#.*$", "", text))
    if not body:
        print("FAIL: no run_apx_checks in %s" % a.image)
        return 1
    if any("<unknown>" in l or "(bad)" in l for l in body):
        print("FAIL: LLVM cannot decode part of run_apx_checks: %s" % next(l for l in body if "<unknown>" in l or "(bad)" in l))
        return 1
    loads, stores, other = {}, {}, []
    for l in body:
        if not EGPR.search(l):
            continue
        m, s = LOAD.match(l), STORE.match(l)
        if m and int(m.group(1), 16) == pattern(int(m.group(2))):
            loads[int(m.group(2))] = loads.get(int(m.group(2)), 0) + 1
        elif s and int(s.group(2) or "0", 16) == 8 * (int(s.group(1)) - 16):
            stores[int(s.group(1))] = stores.get(int(s.group(1)), 0) + 1
        else:
            other.append(l)
    bad = False
    for n in range(16, 32):
        if loads.get(n) != 3 or stores.get(n) != 2:
            print("FAIL: r%d: %s pattern loads (want 3), %s stores to its slot (want 2)"
                  % (n, loads.get(n, 0), stores.get(n, 0)))
            bad = True
    if other:
        print("FAIL: other EGPR instructions in run_apx_checks, e.g. %s" % other[0])
        bad = True
    xs = sum(1 for l in body if re.match(r"^xsave64\s+\(%r9\)$", l))
    xr = sum(1 for l in body if re.match(r"^xrstor64\s+\(%r9\)$", l))
    if (xs, xr) != (1, 1):
        print("FAIL: %d xsave64 (%%r9) and %d xrstor64 (%%r9), want one each" % (xs, xr))
        bad = True
    if bad:
        return 1
    print("ok  run_apx_checks: R16..R31 each loaded 3 times with its pattern, stored twice to its slot; "
          "one xsave64, one xrstor64 (decoded by %s)" % a.objdump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
