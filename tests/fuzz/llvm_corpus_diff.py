#!/usr/bin/env python3
"""Differential pass of a decode_fuzz corpus against LLVM 19 (tools/fuzz --llvm-diff).

For every corpus input in 64-bit mode with APX on (selector bits 1:0 = 0/1, bit 2 clear), the
instruction bytes go through apexvisor-decode and, where apexvisor accepts, llvm-mc-19 (the
same comparison and the same accepted-disagreement rows as tests/decode/llvm_diff.py, whose
functions it uses; REX2 rejections are judged by tests/decode/apx_rules.py). A report, not a
test: fuzzed legacy encodings reach Zydis/LLVM differences the accepted rows (written for
REX2) do not list. Prints the counts and the first unexplained cases; exit 0 unless a REX2
verdict disagrees with apx_rules.py.

  llvm_corpus_diff.py --decoder build/tools/apexvisor-decode --corpus DIR [--llvm-mc llvm-mc-19]
"""
import argparse
import collections
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "decode"))
import apx_rules  # noqa: E402
import llvm_diff  # noqa: E402


def llvm_input(block):
    """llvm_diff.llvm_view, and for legacy encodings too: LLVM 19 prints a LOCK as an
    instruction of its own, so it gets the bytes without it and "lock " goes before its text."""
    if apx_rules.parse(block):
        return llvm_diff.llvm_view(block)
    n = 0
    while n < len(block) and block[n] in apx_rules.LEGACY_PREFIXES:
        n += 1
    if 0xF0 not in block[:n]:
        return block, False
    return [b for b in block[:n] if b != 0xF0] + block[n:], True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decoder", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--llvm-mc", default="llvm-mc-19")
    ap.add_argument("--show", type=int, default=20)
    a = ap.parse_args()
    llvm_mc = shutil.which(a.llvm_mc) or (a.llvm_mc if os.path.exists(a.llvm_mc) else None)
    if not llvm_mc:
        print("llvm_corpus_diff: %s not found" % a.llvm_mc)
        return 77
    cases = []
    for name in sorted(os.listdir(a.corpus)):
        data = open(os.path.join(a.corpus, name), "rb").read()
        if len(data) >= 2 and (data[0] & 3) in (0, 1) and not data[0] & 4:
            cases.append(list(data[1:16]))
    ours = llvm_diff.run_apexvisor(a.decoder, cases)
    both = [(c[: o["length"]], o) for c, o in zip(cases, ours) if o.get("valid")]
    views = [llvm_input(b) for b, _ in both]
    theirs = llvm_diff.run_llvm(llvm_mc, [v for v, _ in views])
    accepted = llvm_diff.load_accepted(os.path.join(os.path.dirname(llvm_diff.__file__), "llvm_diff_accepted.tsv"))
    stats = collections.Counter()
    shown = []
    wrong_rule = 0
    for c, o in zip(cases, ours):  # REX2 rejections: the classifier's rule, exactly
        if not o.get("valid"):
            expected = apx_rules.apx_rule(apx_rules.parse(c)) if apx_rules.parse(c) else None
            if expected and o.get("reason") not in (expected, "truncated", "too_long"):
                wrong_rule += 1
                shown.append("[wrong-rule] %s: %s, apx_rules.py expects %s" % (llvm_diff.hexs(c), o.get("reason"), expected))
    for (block, o), (view, lock), (insns, first_invalid, warn) in zip(both, views, theirs):
        text = ("lock " if lock else "") + insns[0] if insns else "(invalid)"
        if insns and not first_invalid and len(insns) == 1 and not warn and llvm_diff.norm(o["text"]) == text:
            stats["agree"] += 1
            continue
        kind = "llvm-rejects" if not insns or first_invalid else "length" if len(insns) != 1 or warn else "text"
        subject = "%s | %s | %s" % (llvm_diff.hexs(view), o.get("text"), " ".join(llvm_diff.tags(o)))
        rows = [r for r in accepted if re.fullmatch(r["kind"], kind) and r["re"].search(subject)]
        if len(rows) == 1:
            stats["accepted row %d" % rows[0]["line"]] += 1
            continue
        stats["unexplained " + kind] += 1
        if len(shown) < a.show + wrong_rule:
            shown.append("[%s] %s\n    apexvisor: %s\n    llvm-mc:   %s" % (kind, llvm_diff.hexs(view), o.get("text"), text))
    print("llvm_corpus_diff: %d corpus inputs in 64-bit mode with APX; apexvisor accepts %d" % (len(cases), len(both)))
    for k in sorted(stats):
        print("  %-32s %6d" % (k, stats[k]))
    print("  REX2 rejections with another reason than apx_rules.py: %d" % wrong_rule)
    for s in shown:
        print("  " + s)
    return 1 if wrong_rule else 0


if __name__ == "__main__":
    sys.exit(main())
