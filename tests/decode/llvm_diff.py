#!/usr/bin/env python3
"""Differential test: apexvisor's REX2 decoder against LLVM 19's disassembler.

Generates a deterministic set of REX2 encodings (both opcode maps, every opcode, ModRM/SIB
forms, payload bits, legacy prefixes before REX2, random bytes), decodes them with
apexvisor-decode and, in one batch, with `llvm-mc-19 --disassemble -output-asm-variant=1`.
A smaller second set covers canonical EVEX-APX encodings (map 4 NDD/NF/CCMP/CFCMOV/PUSH2,
promoted BMI/KMOV/CMPccXADD, AVX-512 with EGPR addresses); those only have to agree on
length and text, since apexvisor reports them as not emulated.

  * Every REX2 case first gets its expected verdict from tests/decode/apx_rules.py, an
    independent classifier of the case's own bytes (prefixes, REX2 payload, map, opcode,
    ModRM) that names the ONE APX #UD rule (spec §1.2-§1.4) or SDM LOCK rule that must fire.
    Where it names one, apexvisor must reject with exactly that reason, whatever LLVM says
    (LLVM does not enforce the #UD rules); a different reason, or an accept, fails. Where it
    names none, apexvisor may not reject by an APX rule.
  * apexvisor accepts: LLVM must decode exactly those bytes as one instruction with the same
    text (mnemonic and operands, whitespace collapsed, comments dropped). LLVM 19 reads neither
    a LOCK nor an ignored REX (one followed by a legacy prefix, SDM Vol. 2 §2.2.1) before D5 as
    part of the instruction, so LLVM is given the bytes without them and "lock " is put in front
    of its text: the LOCK+REX2 cases are compared like the rest.
  * anything else is a disagreement; it passes only if exactly one row of
    llvm_diff_accepted.tsv (regex over the hex bytes + kind of disagreement + reason) covers it.

Exit status: 0 pass, 1 unexplained disagreements, 77 skipped (llvm-mc-19 missing).
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apx_rules  # noqa: E402  (the independent expected-verdict classifier, next to this file)

SENTINEL = [0xC5, 0xFC, 0x77]  # vzeroall: VEX, so no REX2 case can decode to it
SENTINEL_TEXT = "vzeroall"

# Reasons that are APX REX2 rules: apexvisor may give them only where apx_rules.py expects them.
RULE_REASONS = re.compile(r"^(rex2_|jmpabs_|rex_before_rex2)")


def generate():
    rng = random.Random(0xA9E5)
    cases = []

    def add(prefix, payload, rest, tail=None):
        if tail is None:
            tail = [rng.randrange(256) for _ in range(10)]
        cases.append(list(prefix) + [0xD5, payload] + list(rest) + list(tail))

    payloads = [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x11, 0x18, 0x19, 0x20, 0x22, 0x30,
                0x40, 0x44, 0x48, 0x58, 0x5D, 0x60, 0x70, 0x7F]
    # ModRM (+SIB, +displacement) forms: register, [base], SIB with and without index,
    # SIB no-base, RIP-relative, disp8/disp32, SIB index=100 and base=101 special cases.
    forms = [
        [0xC0], [0xC1], [0xC8], [0xD3], [0xE7], [0xFF], [0xF5], [0xEC],
        [0x00], [0x07], [0x18], [0x3E],
        [0x04, 0x00], [0x04, 0x08], [0x0C, 0x98], [0x14, 0x88], [0x1C, 0x31],
        [0x04, 0x24], [0x04, 0x25, 0x10, 0x00, 0x00, 0x00], [0x04, 0x65, 0x20, 0x00, 0x00, 0x00],
        [0x04, 0xE5, 0x20, 0x00, 0x00, 0x00], [0x04, 0x20], [0x04, 0x65],
        [0x05, 0x10, 0x00, 0x00, 0x00], [0x3D, 0xF0, 0xFF, 0xFF, 0xFF],
        [0x40, 0x08], [0x45, 0x00], [0x44, 0x24, 0x01], [0x44, 0x25, 0xF8], [0x4C, 0x91, 0x7F],
        [0x80, 0x00, 0x01, 0x00, 0x00], [0x84, 0xA4, 0x81, 0x00, 0x00, 0x00], [0x85, 0xF0, 0xFF, 0xFF, 0xFF],
    ]
    for m0 in (0, 1):
        for opcode in range(256):
            for _ in range(6):
                payload = (rng.choice(payloads) & 0x7F) | (m0 << 7)
                add([], payload, [opcode] + rng.choice(forms))
    # Every payload value on a few representative opcodes.
    for payload in range(256):
        add([], payload, [0x89, 0x4C, 0x91, 0x08] if payload < 0x80 else [0xAF, 0x4C, 0x91, 0x08])
        add([], payload, [0x8B, 0xC1] if payload < 0x80 else [0x44, 0xC8])
    # Legacy prefixes (and REX) before REX2.
    prefixes = [[0x66], [0x67], [0xF2], [0xF3], [0xF0], [0x64], [0x65], [0x2E], [0x3E], [0x26], [0x36],
                [0x66, 0x67], [0xF3, 0x66], [0x66, 0xF2], [0x40], [0x48], [0x48, 0x66], [0x66, 0x48],
                [0x41, 0xF3], [0x64, 0x66, 0x67], [0xF0, 0x66]]
    bodies = [(0x10, [0x89, 0x18]), (0x48, [0x01, 0x0C, 0x08]), (0x50, [0x8B, 0x44, 0x24, 0x08]),
              (0x10, [0xB8]), (0x18, [0xC7, 0x00]), (0x11, [0x50]), (0x19, [0x50]), (0x18, [0x5B]),
              (0x40, [0x63, 0xC0]), (0x10, [0x8D, 0x04, 0x24]), (0xD0, [0xB8, 0xC8]), (0x90, [0xBC, 0xC0]),
              (0xC0, [0xAF, 0xC1]), (0x80, [0x10, 0xC1]), (0x84, [0x2A, 0xC0]), (0x88, [0x2A, 0xC0]),
              (0x00, [0xA1]), (0x08, [0xA1]), (0x10, [0xF7, 0x18]), (0x20, [0xFF, 0x04, 0x20]),
              (0x90, [0xB1, 0x08]), (0x98, [0xC7, 0x08]), (0x80, [0x1F, 0x00]), (0x44, [0x86, 0x00]),
              (0x30, [0x0F, 0x00])]
    for pfx in prefixes:
        for payload, body in bodies:
            add(pfx, payload, body)
    # JMPABS with every payload bit.
    for payload in (0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x7F, 0x77):
        add([], payload, [0xA1], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0x00])
    # Random.
    for _ in range(1200):
        pfx = rng.choice([[], [], [], [0x66], [0xF3], [0xF2], [0x67], [0xF0], [0x65]])
        add(pfx, rng.randrange(256), [rng.randrange(256) for _ in range(6)])
    return cases


# Map-4 opcodes whose 66 form is a 16-bit operand size (byte forms take no 66 in LLVM 19).
MAP4_WORD_OPS = [0x01, 0x03, 0x09, 0x0B, 0x11, 0x13, 0x19, 0x1B, 0x21, 0x23, 0x24, 0x29, 0x2B, 0x2C,
                 0x31, 0x33, 0x39, 0x3B, 0x69, 0x6B, 0x81, 0x83, 0x85, 0x88, 0xA5, 0xAD, 0xAF, 0xC1,
                 0xD1, 0xD3, 0xF4, 0xF5, 0xF7, 0xFF] + list(range(0x40, 0x50))
MAP4_BYTE_OPS = [0x00, 0x02, 0x08, 0x0A, 0x10, 0x12, 0x18, 0x1A, 0x20, 0x22, 0x28, 0x2A, 0x30, 0x32,
                 0x38, 0x3A, 0x80, 0x84, 0xC0, 0xD0, 0xD2, 0xF6, 0xFE]
NO_NF = {0x10, 0x11, 0x12, 0x13, 0x18, 0x19, 0x1A, 0x1B}  # ADC/SBB read CF


def generate_evex():
    rng = random.Random(0xE7E4)
    cases = []
    forms = [[0xC1], [0xD8], [0xF7], [0x04, 0x08], [0x44, 0x98, 0x7B], [0x84, 0xAC, 0x23, 0x01, 0x00, 0x00],
             [0x05, 0x10, 0x00, 0x00, 0x00], [0x00], [0x4C, 0x24, 0xF0]]

    def evex(mapn, opcode, pp, w, nd, nf, rest, vvvv=0, low=0):
        r, x, b, r4, b4, x4 = (rng.randrange(2) for _ in range(6))
        v4 = rng.randrange(2) if vvvv else 0
        p0 = ((1 - r) << 7) | ((1 - x) << 6) | ((1 - b) << 5) | ((1 - r4) << 4) | (b4 << 3) | mapn
        p1 = (w << 7) | ((15 - (vvvv & 15)) << 3) | ((1 - x4) << 2) | pp
        p2 = (nd << 4) | ((1 - v4) << 3) | (nf << 2) | low
        cases.append([0x62, p0, p1, p2, opcode] + rest + [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])

    for op in MAP4_WORD_OPS + MAP4_BYTE_OPS:
        for _ in range(4):
            pp = 1 if (op in MAP4_WORD_OPS and rng.random() < 0.3) else 0
            w = 0 if pp else rng.randrange(2)
            nd = rng.randrange(2)
            nf = 0 if op in NO_NF else rng.randrange(2)
            reg = rng.randrange(8)
            if op in (0x38, 0x39, 0x3A, 0x3B, 0x84, 0x85) or (op in (0x80, 0x81, 0x83) and reg == 7) or \
               (op in (0xF6, 0xF7) and reg == 0):
                nd, nf = 0, 0  # CCMP/CTEST: SCC in P2[3:0], DFV in vvvv
                form = [(rng.choice(forms)[0] & 0xC7) | (reg << 3)]
                evex(4, op, pp, w, 0, 0, form + [0x01, 0x02, 0x03, 0x04], vvvv=rng.randrange(16) ^ 15,
                     low=rng.randrange(4))
                continue
            if op in (0x80, 0x81, 0x83, 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7, 0xFE, 0xFF):
                allowed = {0x80: [0, 1, 2, 3, 4, 5, 6], 0x81: [0, 1, 2, 3, 4, 5, 6], 0x83: [0, 1, 2, 3, 4, 5, 6],
                           0xF6: [2, 3, 4, 5, 6, 7], 0xF7: [2, 3, 4, 5, 6, 7], 0xFE: [0, 1], 0xFF: [0, 1]}
                reg = rng.choice(allowed.get(op, [0, 1, 2, 3, 4, 5, 7]))
                if reg in (2, 3) and op < 0xF0:
                    nf = 0  # ADC/SBB/RCL/RCR
                if op in (0xF6, 0xF7) and reg >= 4:
                    nd = 0  # MUL/IMUL/DIV/IDIV
                if op in (0xF6, 0xF7) and reg == 2:
                    nf = 0  # NOT
            f = rng.choice(forms)
            f = [(f[0] & 0xC7) | (reg << 3)] + f[1:]
            if op in (0x69, 0x6B) or (0x40 <= op <= 0x4F and nd and not nf):
                pass
            evex(4, op, pp, w, nd, nf, f, vvvv=rng.randrange(1, 32) if nd else 0)
    for op, reg in ((0xFF, 6), (0x8F, 0)):  # PUSH2/POP2 (register forms, ND=1)
        for _ in range(6):
            evex(4, op, 0, rng.randrange(2), 1, 0, [0xC0 | (reg << 3) | rng.randrange(8)], vvvv=rng.randrange(1, 32))
    for op in (0x40, 0x44, 0x4C):  # SETcc / SETZUcc (F2)
        for nd in (0, 1):
            evex(4, op, 3, 0, nd, 0, [rng.choice([0xC0, 0xC3, 0x00])])
    # Promoted VEX: (map, opcode, pp, /reg or None, NF allowed)
    vexish = [(2, 0xF2, 0, None, 1), (2, 0xF7, 0, None, 1), (2, 0xF5, 0, None, 1), (2, 0xF5, 3, None, 0),
              (2, 0xF5, 2, None, 0), (2, 0xF6, 3, None, 0), (2, 0xF7, 1, None, 0), (2, 0xF7, 2, None, 0),
              (2, 0xF7, 3, None, 0), (2, 0xF3, 0, 1, 1), (2, 0xF3, 0, 2, 1), (2, 0xF3, 0, 3, 1),
              (3, 0xF0, 3, None, 0), (1, 0x90, 0, None, 0), (1, 0x92, 0, None, 0), (1, 0x93, 0, None, 0),
              (1, 0x92, 3, None, 0), (1, 0x93, 3, None, 0)]
    for mapn, op, pp, reg, nf_ok in vexish:
        for _ in range(5):
            f = [0xC1 | (rng.randrange(8) << 3)] if mapn == 1 and op in (0x92, 0x93) else rng.choice(forms)
            if reg is not None:
                f = [(f[0] & 0xC7) | (reg << 3)] + f[1:]
            w = rng.randrange(2)
            uses_vvvv = not (mapn == 3 or (mapn == 1))
            evex(mapn, op, pp, w, 0, nf_ok and rng.randrange(2), f + ([0x05] if mapn == 3 else []),
                 vvvv=rng.randrange(32) if uses_vvvv else 0)
            if mapn == 1 and f[0] >= 0xC0:
                cases[-1][1] |= 0x60  # a mask register in ModRM.rm: EVEX.X/B unused (LLVM 19 rejects them set)
    for cc in range(16):  # CMPccXADD: memory only, 66
        f = rng.choice([[0x04, 0x08], [0x44, 0x98, 0x7B], [0x84, 0xAC, 0x23, 0x01, 0x00, 0x00]])
        evex(2, 0xE0 + cc, 1, rng.randrange(2), 0, 0, f, vvvv=rng.randrange(32))
    # AVX-512 with EGPRs in the address or as a GPR operand.
    for _ in range(12):
        f = rng.choice([[0x04, 0x08], [0x44, 0x98, 0x7B], [0x84, 0xAC, 0x23, 0x01, 0x00, 0x00]])
        evex(1, 0x58, 0, 0, 0, 0, f, vvvv=rng.randrange(16), low=0)
        cases[-1][3] = (cases[-1][3] & 0x08) | 0x40  # L'L=10 (512-bit), no masking
    return cases


def hexs(bs):
    return " ".join("%02x" % b for b in bs)


def norm(text):
    text = text.split("#", 1)[0]
    return " ".join(text.split())


def run_apexvisor(decoder, cases):
    inp = "\n".join(hexs(c) for c in cases) + "\n"
    r = subprocess.run([decoder], input=inp, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit("apexvisor-decode failed (%d): %s" % (r.returncode, r.stderr[:2000]))
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    if len(out) != len(cases):
        sys.exit("apexvisor-decode gave %d results for %d inputs" % (len(out), len(cases)))
    return out


def run_llvm(llvm_mc, blocks):
    """Disassembles each block on its own; returns per block (instruction texts, first-byte-invalid)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "blocks.txt")
        lines = []
        for b in blocks:
            lines.append("[" + " ".join("0x%02x" % x for x in b) + "]")
            lines.append("[" + " ".join("0x%02x" % x for x in SENTINEL) + "]")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([llvm_mc, "--disassemble", "-triple=x86_64", "-output-asm-variant=1", path],
                           capture_output=True, text=True, check=False)
    texts = [norm(l) for l in r.stdout.splitlines()]
    texts = [t for t in texts if t and t != ".text"]
    per_block = []
    cur = []
    for t in texts:
        if t == SENTINEL_TEXT:
            per_block.append(cur)
            cur = []
        else:
            cur.append(t)
    if len(per_block) != len(blocks):
        sys.exit("llvm-mc output does not line up: %d blocks, %d sentinels" % (len(blocks), len(per_block)))
    # warnings: "<path>:<line>:<col>: warning: invalid instruction encoding"
    bad = collections.defaultdict(list)
    for m in re.finditer(r":(\d+):(\d+): warning: invalid instruction encoding", r.stderr):
        line, col = int(m.group(1)), int(m.group(2))
        bad[line].append(col)
    result = []
    for i, insns in enumerate(per_block):
        line = 2 * i + 1
        cols = bad.get(line, [])
        first_invalid = 2 in cols  # column 2 = the first byte after '['
        result.append((insns, first_invalid, bool(cols)))
    return result


def llvm_view(block):
    """(bytes for LLVM, had LOCK): a REX2 case without its LOCK and ignored REX bytes.

    LLVM 19 disassembles F0 before D5 as an instruction "lock" of its own, and a REX followed by
    a legacy prefix (ignored, SDM Vol. 2 §2.2.1) as a "rex64"/"data16" pair, then restarts at
    the next byte. Neither changes what the instruction is, so LLVM gets the bytes without them
    and the caller puts "lock " before LLVM's text. A REX right before D5 is kept (#UD).
    """
    c = apx_rules.parse(block)
    if c is None:
        return block, False
    n = len(c.prefixes)
    keep = [b for i, b in enumerate(c.prefixes)
            if b != 0xF0 and not (0x40 <= b <= 0x4F and i != n - 1)]
    return keep + list(block[n:]), c.lock


VECTOR_CLASSES = ("xmm", "ymm", "mmx", "seg", "x87", "bnd", "mask")


def tags(o):
    """Facts about a decode that accepted rows can name (the third field of the match subject)."""
    t = []
    x = o.get("rex2") or {}
    ops = o.get("operands") or []
    if x.get("b4") == 1 and any(op["kind"] == "mem" and op.get("sib") and op.get("base") is None and
                                op.get("disp_bytes") == 4 for op in ops):
        t.append("sib-nobase-b4")
    for op in ops:
        reg = op.get("reg") or {}
        if reg.get("class") in VECTOR_CLASSES:
            if (op["field"] == "modrm.reg" and x.get("r4") == 1) or (op["field"] == "modrm.rm" and x.get("b4") == 1):
                t.append("r4b4-on-%s" % reg["class"])
    if x and x.get("m0") == 0 and x.get("w") == 0 and o.get("opcode", 0) & 0xF0 == 0x50:
        t.append("push-pop-w0")
    if x and x.get("m0") == 0 and o.get("opcode") == 0x90 and x.get("b4") == 1 and x.get("b3") == 0:
        t.append("xchg-b4-only")
    return t


def load_accepted(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 3 or parts[0] == "match":
                continue
            rows.append({"line": n, "re": re.compile(parts[0]), "kind": parts[1], "reason": parts[2], "used": 0})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decoder", required=True, help="path of apexvisor-decode")
    ap.add_argument("--llvm-mc", default="llvm-mc-19")
    ap.add_argument("--accepted", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "llvm_diff_accepted.tsv"))
    ap.add_argument("--show", type=int, default=40, help="disagreements to print")
    ap.add_argument("--dump", help="write every case and verdict to this TSV")
    args = ap.parse_args()

    llvm_mc = shutil.which(args.llvm_mc) or (args.llvm_mc if os.path.exists(args.llvm_mc) else None)
    if not llvm_mc:
        print("SKIP[missing-prerequisite]: %s not found (run tools/setup: package llvm-19)" % args.llvm_mc)
        return 77

    cases = generate()
    n_rex2 = len(cases)
    cases += generate_evex()
    ours = run_apexvisor(args.decoder, cases)
    blocks, views = [], []
    for c, o in zip(cases, ours):
        block = c[: o["length"]] if o.get("valid") else c
        blocks.append(block)
        views.append(llvm_view(block))
    theirs = run_llvm(llvm_mc, [v for v, _ in views])
    accepted = load_accepted(args.accepted)

    stats = collections.Counter()
    by_rule = collections.Counter()   # rule -> cases where LLVM decodes
    by_rule_both = collections.Counter()  # rule -> cases LLVM rejects too
    unexplained = []
    dump = []

    def fail(kind, block, o, llvm_text, detail):
        unexplained.append((kind, hexs(block), o.get("text") or o.get("reason"), llvm_text, detail))
        dump.append((hexs(block), "DISAGREE", kind, detail))

    def disagree(kind, block, o, llvm_text, detail):
        h = hexs(block)  # the bytes LLVM was given (llvm_view): what the rows describe
        # The case's bytes and the rule apx_rules.py expects from them (always none here: a
        # case with a rule is judged before), never apexvisor's text: a row describes the
        # encodings LLVM gets wrong, so a decoder that prints something else for them is not
        # excused by it.
        expected = apx_rules.expected_reason(block) or "none"
        subject = "%s | %s | %s" % (h, expected, " ".join(tags(o)))
        rows = [row for row in accepted if re.fullmatch(row["kind"], kind) and row["re"].search(subject)]
        if len(rows) == 1:
            rows[0]["used"] += 1
            stats["accepted:" + kind] += 1
            dump.append((h, "accepted", kind, detail))
            return
        if rows:  # one case, one explanation: overlapping rows would hide which one is true
            detail = "%s; matched by %d rows of the accepted file (lines %s), must be exactly one" % (
                detail, len(rows), ", ".join(str(r["line"]) for r in rows))
        fail(kind, block, o, llvm_text, detail)

    for block, (view, lock), o, (insns, first_invalid, any_warning) in zip(blocks, views, ours, theirs):
        llvm_ok = bool(insns) and not first_invalid
        llvm_text = ("lock " if lock else "") + insns[0] if insns else "(invalid)"
        expected = apx_rules.expected_reason(block, exists=llvm_ok)
        reason = None if o.get("valid") else o.get("reason", "?")
        if expected:
            # The classifier names the rule: apexvisor must reject with exactly that reason.
            if reason != expected:
                fail("wrong-rule", block, o, llvm_text, "apx_rules.py expects %s" % expected)
                continue
            (by_rule if llvm_ok else by_rule_both)[expected] += 1
            stats["rejected by the expected rule"] += 1
            dump.append((hexs(block), "rule", reason, llvm_text))
            continue
        # (LOCK on a REX2 instruction is judged by apx_rules.py too, where LLVM decodes it.)
        if reason and (RULE_REASONS.match(reason) or (reason == "illegal_lock" and llvm_ok and lock)):
            fail("unexpected-rule", block, o, llvm_text, "apx_rules.py expects no APX or LOCK rule here")
            continue
        if o.get("valid"):
            if not llvm_ok:
                disagree("llvm-rejects", view, o, llvm_text, "")
            elif len(insns) != 1 or any_warning:
                disagree("length", view, o, " | ".join(insns), "llvm decodes %d bytes differently" % len(view))
            elif norm(o["text"]) != llvm_text:
                ours_m = norm(o["text"]).split(" ")
                kind = "mnemonic" if ours_m[0] != llvm_text.split(" ")[0] else "operands"
                disagree("text", view, o, llvm_text, kind)
            else:
                stats["agree"] += 1
                stats["agree, LOCK+REX2"] += lock
                dump.append((hexs(block), "agree", "", o["text"]))
        elif not llvm_ok:
            stats["both reject"] += 1
            dump.append((hexs(block), "both-reject", reason, ""))
        else:
            disagree("we-reject", view, o, llvm_text, reason)

    print("llvm_diff: %d REX2 + %d EVEX-APX cases through %s and %s" % (
        n_rex2, len(cases) - n_rex2, os.path.basename(args.decoder), llvm_mc))
    for k in sorted(stats):
        print("  %-40s %6d" % (k, stats[k]))
    print("  #UD rules apexvisor enforces as tests/decode/apx_rules.py expects (LLVM decodes / rejects too):")
    for k in sorted(set(by_rule) | set(by_rule_both)):
        print("    %-36s %6d %6d" % (k, by_rule[k], by_rule_both[k]))
    print("  accepted disagreements per row of %s:" % os.path.basename(args.accepted))
    stale = 0
    for row in accepted:
        print("    line %-3d %-22s %5d  %s" % (row["line"], row["kind"], row["used"], row["reason"][:70]))
        stale += row["used"] == 0
    if stale:
        print("  STALE: %d accepted rows matched nothing; remove them" % stale)
    if args.dump:
        with open(args.dump, "w") as f:
            for d in dump:
                f.write("\t".join(str(x) for x in d) + "\n")
    if unexplained:
        print("  UNEXPLAINED disagreements: %d" % len(unexplained))
        for kind, h, ours_t, llvm_t, detail in unexplained[: args.show]:
            print("    [%s] %s\n        apexvisor: %s\n        llvm-mc:   %s %s" % (kind, h, ours_t, llvm_t, detail))
        return 1
    if stale:
        return 1
    print("  PASS: no unexplained disagreements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
