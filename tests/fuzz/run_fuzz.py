#!/usr/bin/env python3
"""Runs a libFuzzer harness reproducibly and prints its figures (the meson tests and tools/fuzz).

  run_fuzz.py --fuzzer EXE --corpus DIR [--dict FILE] [--runs N | --seconds S] [--seed N]
              [--name decode-fuzz] [--max-len 16]

The seed corpus is copied to a fresh temporary directory, so runs never accumulate inputs and
the same arguments give the same run: one process, a fixed -seed, a fixed -runs budget,
-reload=0 (libFuzzer otherwise re-reads the corpus directory on a timer, which makes the run
depend on the machine's speed),
address-space randomization off (`setarch -R`) and the same argv and environment strings
(the fuzzer runs in the temporary directory with relative names and PATH alone): trace-cmp
hands compared values, pointers included, back to the mutator, so stack and heap addresses
must not move between runs. decode_fuzz inputs
are up to 16 bytes: the harness's selector byte and up to 15 instruction bytes (the
architectural maximum length). The last line is

  <name>: inputs=N seconds=S coverage=C features=F corpus=K crashes=0 revision=R

and the exit status is libFuzzer's (non-zero on a crash, a sanitizer report or a failed check;
the crashing input is left in the working directory as crash-<sha1>).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time



def git_revision():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    r = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12"],
                       capture_output=True, text=True, check=False)
    return r.stdout.strip() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fuzzer", required=True)
    ap.add_argument("--corpus", required=True, help="seed corpus directory (read only)")
    ap.add_argument("--dict")
    ap.add_argument("--name", default="decode-fuzz")
    ap.add_argument("--max-len", type=int, default=16, help="decode_fuzz: 1 selector byte + 15 instruction bytes")
    ap.add_argument("--runs", type=int, default=1000000)
    ap.add_argument("--seconds", type=int, help="run for this long instead of --runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="copy the grown corpus here afterwards")
    a = ap.parse_args()

    revision = git_revision()  # before the run: the sources it was built from
    seeds = os.listdir(a.corpus)
    if not seeds:
        sys.exit("run_fuzz: the seed corpus %s is empty" % a.corpus)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        # Same argv and environment, byte for byte, whatever the checkout or the caller: the
        # process's stack addresses (and so the pointer values trace-cmp feeds back into the
        # mutations) depend on their length. Everything is named relative to the run directory.
        corpus = os.path.join(tmp, "corpus")
        shutil.copytree(a.corpus, corpus)
        os.symlink(os.path.abspath(a.fuzzer), os.path.join(tmp, "fuzzer"))
        if a.dict:
            shutil.copy(a.dict, os.path.join(tmp, "fuzz.dict"))
        budget = ["-max_total_time=%d" % a.seconds, "-runs=%d" % (1 << 62)] if a.seconds else ["-runs=%d" % a.runs]
        cmd = ["./fuzzer", "-seed=%d" % a.seed, "-max_len=%d" % a.max_len] + \
            (["-dict=fuzz.dict"] if a.dict else []) + ["-reload=0", "-print_final_stats=1"] + budget + ["corpus"]
        setarch = shutil.which("setarch")
        if setarch:
            cmd = [setarch, "x86_64", "-R"] + cmd
        else:
            print("run_fuzz: setarch not found: address randomization stays on, figures may vary")
        print("run_fuzz: (in a temporary directory with %s, %s) %s" % (a.fuzzer, a.corpus, " ".join(cmd)), flush=True)
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=tmp, env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, check=False)
        seconds = time.monotonic() - t0
        out = r.stdout
        for f in os.listdir(tmp):  # a crash's input, for the developer
            if f.startswith(("crash-", "leak-", "timeout-", "oom-")):
                shutil.copy(os.path.join(tmp, f), f)
                print("run_fuzz: kept %s" % os.path.abspath(f))
        if a.keep:
            shutil.copytree(corpus, a.keep, dirs_exist_ok=True)
        n_corpus = len(os.listdir(corpus))
    done = re.findall(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)", out)
    runs = re.search(r"stat::number_of_executed_units: (\d+)", out)
    crashed = r.returncode != 0
    if crashed or not done:
        sys.stdout.write(out[-6000:])
    inputs = int(runs.group(1)) if runs else (int(done[-1][0]) if done else 0)
    cov, ft = (done[-1][1], done[-1][2]) if done else ("?", "?")
    print("%s: inputs=%d seconds=%.0f coverage=%s features=%s corpus=%d (from %d seeds) crashes=%d "
          "revision=%s" % (a.name, inputs, seconds, cov, ft, n_corpus, len(seeds), 1 if crashed else 0, revision))
    if not crashed and not a.seconds and inputs < a.runs:
        print("run_fuzz: only %d of %d runs done" % (inputs, a.runs))
        return 1
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
