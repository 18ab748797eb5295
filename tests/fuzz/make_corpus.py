#!/usr/bin/env python3
"""Writes the seed corpus of decode_fuzz (run at build time by tests/fuzz/meson.build).

A seed is one file: byte 0 is the harness's selector (decode_fuzz.cpp: bits 1:0 mode, 64 for
0/1, 32 for 2, 16 for 3; bit 2 set = APX off; bit 3 = real mode in 16-bit), the rest are
instruction bytes. Seeds come from
  * every vector of the vector files given (tests/decode/data/*.tsv, column "hex"): 64-bit mode
    with APX on, and again with APX off (the same bytes must then take the no-APX paths);
  * where llvm-mc-19 is installed, every instruction of seeds.s, assembled in the mode its
    .code64/.code32/.code16 section names (legacy, VEX, AVX-512, REX2, EVEX-APX forms).
Each instruction is cut to 15 bytes (the architectural maximum). File names are the SHA-1 of
the contents, as libFuzzer names its own, so duplicates collapse. Prints how many seeds.
With --emulate-out the same instructions also seed emulate_fuzz (emulate_fuzz.cpp layout:
selector, RFLAGS, REP budget, 15 instruction bytes; registers left to the fuzzer).
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys

SEL_64, SEL_64_NOAPX, SEL_32, SEL_16 = 0x00, 0x04, 0x02, 0x03
MAX_INSN = 15


def vector_seeds(path):
    seeds = []
    with open(path) as f:
        header = None
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if header is None:
                header = cols
                continue
            bs = bytes(int(x, 16) for x in cols[header.index("hex")].split())
            seeds += [bytes([SEL_64]) + bs[:MAX_INSN], bytes([SEL_64_NOAPX]) + bs[:MAX_INSN]]
    return seeds


def llvm_seeds(llvm_mc, source):
    """Assembles seeds.s; returns (seeds, number of source lines that failed)."""
    text = "".join(l for l in open(source) if not l.lstrip().startswith("#"))
    r = subprocess.run([llvm_mc, "-triple=x86_64", "-x86-asm-syntax=intel", "-output-asm-variant=1",
                        "-show-encoding"], input=text, capture_output=True, text=True, check=False)
    seeds = []
    sel = SEL_64
    for line in r.stdout.splitlines():
        s = line.strip()
        if s.startswith(".code"):
            sel = {".code64": SEL_64, ".code32": SEL_32, ".code16": SEL_16}[s.split()[0]]
            continue
        m = re.search(r"encoding: \[([^\]]*)\]", s)
        if m:
            bs = bytes(int(x, 16) for x in m.group(1).split(","))
            seeds.append(bytes([sel]) + bs[:MAX_INSN])
    return seeds, r.stderr.count("error:")


def write(directory, seeds):
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    for s in seeds:
        with open(os.path.join(directory, hashlib.sha1(s).hexdigest()), "wb") as f:
            f.write(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="corpus directory (replaced)")
    ap.add_argument("--vectors", nargs="+", default=[], help="vector TSV files with a 'hex' column")
    ap.add_argument("--seeds", help="assembly seeds (seeds.s)")
    ap.add_argument("--llvm-mc", default="llvm-mc-19")
    ap.add_argument("--emulate-out", help="also write emulate_fuzz seeds here (replaced)")
    a = ap.parse_args()

    seeds = []
    for v in a.vectors:
        seeds += vector_seeds(v)
    n_vec = len(seeds)
    llvm_mc = shutil.which(a.llvm_mc) or (a.llvm_mc if os.path.exists(a.llvm_mc) else None)
    n_asm = bad = 0
    if a.seeds and llvm_mc:
        asm, bad = llvm_seeds(llvm_mc, a.seeds)
        if bad:
            sys.exit("make_corpus: %d lines of %s do not assemble with %s" % (bad, a.seeds, llvm_mc))
        seeds += asm
        n_asm = len(asm)
    write(a.out, seeds)
    if a.emulate_out:
        write(a.emulate_out, [bytes([s[0], 0, 0]) + s[1:].ljust(MAX_INSN, b"\x90") for s in seeds])
    print("make_corpus: %d seeds (%d from vectors, %d assembled%s) in %s" % (
        len(os.listdir(a.out)), n_vec, n_asm, "" if llvm_mc else "; llvm-mc not found, none assembled", a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
