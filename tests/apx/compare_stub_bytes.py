#!/usr/bin/env python3
"""Checks the exit stub's GPR save/restore bytes (design.md "Entry/exit assembly").

The same .S is assembled several ways: by the default assembler (GNU as here) with the
byte-emitting EGPR macros, by clang 19 with real APX mnemonics (APEXVISOR_AS_APX=1), and by
clang 19 with the byte macros. This script asserts that the .text bytes are identical, then
decodes them with llvm-objdump-19 (an independent APX decoder, docs/platform.md) and checks
every move: register, base and gpr[] offset, taken from arch/gpr_table.def.

  compare_stub_bytes.py --kind stub|capture|variants --objcopy P --objdump P --table DEF OBJ...
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def read_table(path):
    """(number, 64-bit name, extended?) rows of arch/gpr_table.def."""
    rows = []
    pat = re.compile(r"^GPR_(LEGACY|EXTENDED)\(\s*(\d+)\s*,\s*(\w+)")
    with open(path) as f:
        for line in f:
            m = pat.match(line.strip())
            if m:
                rows.append((int(m.group(2)), m.group(3), m.group(1) == "EXTENDED"))
    if [r[0] for r in rows] != list(range(32)):
        fail("%s does not list registers 0..31 in order" % path)
    return rows


def text_bytes(objcopy, obj):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "text.bin")
        subprocess.run([objcopy, "-O", "binary", "-j", ".text", obj, out], check=True)
        with open(out, "rb") as f:
            return f.read()


def symbols(objdump, obj):
    """name -> address of the .text symbols."""
    out = subprocess.run([objdump, "-t", obj], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and ".text" in parts and re.fullmatch(r"[0-9a-f]{16}", parts[0]):
            syms[parts[-1]] = int(parts[0], 16)
    return syms


class Insn:
    def __init__(self, addr, raw, mnem, ops):
        self.addr, self.raw, self.mnem, self.ops = addr, raw, mnem, ops

    def __repr__(self):
        return "%#x: %s %s %s" % (self.addr, self.raw.hex(" "), self.mnem, self.ops)


def disassemble(objdump, obj):
    out = subprocess.run([objdump, "-d", obj], check=True, capture_output=True, text=True).stdout
    insns = []
    pat = re.compile(r"^\s*([0-9a-f]+):\s((?:[0-9a-f]{2} )+)\s*(.*)$")
    for line in out.splitlines():
        m = pat.match(line)
        if not m:
            continue
        text = m.group(3).strip()
        if "<unknown>" in text or "(bad)" in text:
            fail("LLVM cannot decode: " + line.strip())
        mnem, _, ops = text.partition("\t")
        insns.append(Insn(int(m.group(1), 16), bytes.fromhex(m.group(2)), mnem.strip(), ops.strip()))
    return insns


def mem(off, base):
    if off == 0:
        return "(%%%s)" % base
    return "%s0x%x(%%%s)" % ("-" if off < 0 else "", abs(off), base)


def expect(insn, mnem, ops, what):
    if insn is None or insn.mnem != mnem or insn.ops != ops:
        fail("%s: expected `%s %s`, found %r" % (what, mnem, ops, insn))


OWN_DECODER = None  # --decoder: apexvisor's own decoder CLI, a second, independent reading


def own_decode(insn):
    """apexvisor-decode's reading of one instruction: (register number, memory disp, text)."""
    out = subprocess.run([OWN_DECODER, insn.raw.hex()], check=True, capture_output=True, text=True).stdout
    obj = json.loads(out.splitlines()[0])
    if not obj.get("valid") or obj.get("length") != len(insn.raw):
        fail("apexvisor-decode rejects or mis-sizes %r: %s" % (insn, out.strip()))
    regs = [o for o in obj["operands"] if o["kind"] == "reg"]
    mems = [o for o in obj["operands"] if o["kind"] == "mem"]
    if len(regs) != 1 or len(mems) != 1:
        fail("apexvisor-decode: %r is not a register/memory move: %s" % (insn, obj["text"]))
    return regs[0]["reg"]["num"], mems[0]["disp"], mems[0]["base"]["name"], obj["text"]


def check_egpr_block(insns, i, rows, base, disp, store, what, quiet=False):
    """insns[i] starts `cmpb; je skip; lfence; 16 EGPR moves`; returns the index after it."""
    if insns[i].mnem != "cmpb" or not insns[i].ops.startswith("$0x0, "):
        fail("%s: expected the flag test `cmpb $0x0, <flag>`, found %r" % (what, insns[i]))
    je, lf = insns[i + 1], insns[i + 2]
    if je.mnem != "je":
        fail("%s: expected `je` over the EGPR block, found %r" % (what, je))
    expect(lf, "lfence", "", what + " (speculation barrier before the first EGPR move)")
    first = i + 3
    egprs = [r for r in rows if r[2]]
    for k, (n, name, _) in enumerate(egprs):
        insn = insns[first + k]
        slot = mem(disp + 8 * n, base)
        ops = "%%%s, %s" % (name, slot) if store else "%s, %%%s" % (slot, name)
        expect(insn, "movq", ops, "%s EGPR %s" % (what, name))
        if insn.raw[0] != 0xD5 or len(insn.raw) not in (8, 9):
            fail("%s: %s is not a REX2 disp32 move: %r" % (what, name, insn))
        if OWN_DECODER:
            num, d, b, text = own_decode(insn)
            if num != n or d != disp + 8 * n or b != base:
                fail("%s: apexvisor-decode reads %r as `%s` (register %d, offset %d), expected %s at %d" % (
                    what, insn, text, num, d, name, disp + 8 * n))
    after = first + len(egprs)
    last = insns[after - 1]
    target = int(je.ops.split()[0], 16)
    if target != last.addr + len(last.raw):
        fail("%s: `je` goes to %#x, not just past the 16 EGPR moves" % (what, target))
    if not quiet:
        print("ok  %s: flag test, je past the block, lfence, %s of r16..r31 at %s..%s%s" % (
        what, "stores" if store else "loads", mem(disp + 128, base), mem(disp + 248, base),
        " (also read so by apexvisor-decode)" if OWN_DECODER else ""))
    return after


def legacy_moves(rows, base, disp, store):
    """The legacy moves the macros emit: every register but RSP and the base, in table order."""
    out = []
    for n, name, ext in rows:
        if ext or n == 4 or name == base:
            continue
        slot = mem(disp + 8 * n, base)
        out.append(("movq", "%%%s, %s" % (name, slot) if store else "%s, %%%s" % (slot, name)))
    return out


def function(insns, start, end):
    return [x for x in insns if start <= x.addr < end]


def check_stub(objdump, obj, rows):
    syms = symbols(objdump, obj)
    insns = disassemble(objdump, obj)
    for s in ("apx_gpr_save", "apx_gpr_save_first_egpr", "apx_gpr_restore", "apx_gpr_restore_first_egpr"):
        if s not in syms:
            fail("symbol %s missing" % s)
    save = function(insns, syms["apx_gpr_save"], syms["apx_gpr_restore"])
    restore = function(insns, syms["apx_gpr_restore"], 1 << 62)

    # apx_gpr_save: the base's own slot, the macro's legacy stores, EGPR block, ret.
    expect(save[0], "movq", "%rdi, 0x38(%rdi)", "apx_gpr_save base slot")
    legacy = legacy_moves(rows, "rdi", 0, True)
    for k, (m, ops) in enumerate(legacy):
        expect(save[1 + k], m, ops, "apx_gpr_save legacy")
    print("ok  apx_gpr_save: RDI's slot, then %d legacy stores (RSP and the base RDI skipped)" % len(legacy))
    i = check_egpr_block(save, 1 + len(legacy), rows, "rdi", 0, True, "apx_gpr_save")
    if save[1 + len(legacy) + 3].addr != syms["apx_gpr_save_first_egpr"]:
        fail("apx_gpr_save_first_egpr is not the first EGPR move")
    expect(save[i], "retq", "", "apx_gpr_save end")

    # apx_gpr_restore: EGPR block, legacy loads, the base last, ret.
    i = check_egpr_block(restore, 0, rows, "rdi", 0, False, "apx_gpr_restore")
    if restore[3].addr != syms["apx_gpr_restore_first_egpr"]:
        fail("apx_gpr_restore_first_egpr is not the first EGPR move")
    legacy = legacy_moves(rows, "rdi", 0, False)
    for k, (m, ops) in enumerate(legacy):
        expect(restore[i + k], m, ops, "apx_gpr_restore legacy")
    i += len(legacy)
    expect(restore[i], "movq", "0x38(%rdi), %rdi", "apx_gpr_restore base last")
    expect(restore[i + 1], "retq", "", "apx_gpr_restore end")
    print("ok  apx_gpr_restore: %d legacy loads, then the base RDI last" % len(legacy))


def check_capture(objdump, obj, rows):
    """vmx/asm/egpr_capture.S: the exit stub's EGPR save block alone (SAVE_GUEST_EGPRS), then ret."""
    syms = symbols(objdump, obj)
    insns = disassemble(objdump, obj)
    for s in ("apex_capture_guest_egprs", "apex_capture_guest_egprs_first_egpr"):
        if s not in syms:
            fail("symbol %s missing" % s)
    body = function(insns, syms["apex_capture_guest_egprs"], 1 << 62)
    expect(body[0], "cmpb", "$0x0, (%rsi)", "apex_capture_guest_egprs flag test")
    i = check_egpr_block(body, 0, rows, "rdi", 0, True, "apex_capture_guest_egprs")
    if body[3].addr != syms["apex_capture_guest_egprs_first_egpr"]:
        fail("apex_capture_guest_egprs_first_egpr is not the first EGPR move")
    expect(body[i], "retq", "", "apex_capture_guest_egprs end")
    if any(x.mnem != "int3" for x in body[i + 1:]):
        fail("apex_capture_guest_egprs: unexpected instructions after ret: %r" % body[i + 1:])
    print("ok  apex_capture_guest_egprs: no legacy move, only the gated EGPR stores, then ret")


def check_variants(objdump, obj, rows):
    syms = symbols(objdump, obj)
    insns = disassemble(objdump, obj)
    pat = re.compile(r"^apx_variant_(save|restore)_(\w+?)_(m?\d+)$")
    marks = sorted((a, s) for s, a in syms.items() if pat.match(s) or s == "apx_variant_end")
    count = 0
    for (addr, name), (nxt, _) in zip(marks, marks[1:]):
        m = pat.match(name)
        if not m:
            continue
        store, base = m.group(1) == "save", m.group(2)
        disp = -int(m.group(3)[1:]) if m.group(3).startswith("m") else int(m.group(3))
        body = function(insns, addr, nxt)
        legacy = legacy_moves(rows, base, disp, store)
        if store:
            for k, (mn, ops) in enumerate(legacy):
                expect(body[k], mn, ops, name + " legacy")
            end = check_egpr_block(body, len(legacy), rows, base, disp, True, name, quiet=True)
        else:
            i = check_egpr_block(body, 0, rows, base, disp, False, name, quiet=True)
            for k, (mn, ops) in enumerate(legacy):
                expect(body[i + k], mn, ops, name + " legacy")
            end = i + len(legacy)
            expect(body[end], "movq", "%s, %%%s" % (mem(disp + 8 * [r[1] for r in rows].index(base), base), base),
                   name + " base last")
            end += 1
        if end != len(body):
            fail("%s: unexpected instructions after the block: %r" % (name, body[end:]))
        count += 1
    if count != 15 * 3 * 2:
        fail("expected 90 variants (15 bases x 3 displacements x save/restore), found %d" % count)
    print("ok  %d variants decode to the expected moves" % count)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["stub", "capture", "variants"])
    ap.add_argument("--objcopy")
    ap.add_argument("--objdump")
    ap.add_argument("--table")
    ap.add_argument("--decoder", help="apexvisor-decode: check every EGPR move with it too")
    ap.add_argument("objects", nargs="*")
    a = ap.parse_args()
    if len(a.objects) < 2:
        fail("need at least two objects to compare")
    rows = read_table(a.table)

    ref = text_bytes(a.objcopy, a.objects[0])
    if not ref:
        fail("%s has an empty .text" % a.objects[0])
    for obj in a.objects[1:]:
        other = text_bytes(a.objcopy, obj)
        if other != ref:
            at = next((k for k in range(min(len(ref), len(other))) if ref[k] != other[k]), min(len(ref), len(other)))
            fail("%s and %s differ at .text+%#x (%d vs %d bytes)" % (a.objects[0], obj, at, len(ref), len(other)))
    print("ok  %d objects, %d identical .text bytes: %s" % (
        len(a.objects), len(ref), ", ".join(os.path.basename(o) for o in a.objects)))

    # The byte-macro object is decoded: its EGPR moves were written by our macros, so LLVM
    # is the independent judge. (The bytes are identical anyway.)
    global OWN_DECODER
    OWN_DECODER = a.decoder
    {"stub": check_stub, "capture": check_capture, "variants": check_variants}[a.kind](a.objdump, a.objects[0], rows)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
