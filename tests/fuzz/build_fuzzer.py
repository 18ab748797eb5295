#!/usr/bin/env python3
"""Builds tests/fuzz/decode_fuzz with clang-19 -fsanitize=fuzzer,address,undefined.

The project itself is compiled by the default C++ compiler (GCC), which has no libFuzzer, so
meson calls this script: it compiles the decoder sources, arch/gpr.cpp and the Zydis sources
with clang into one fuzzer executable.

  build_fuzzer.py --probe --cxx clang++-19         exit 0 if libFuzzer works, else print why
  build_fuzzer.py --cc clang-19 --cxx clang++-19 --root SRC --zydis ZYDIS --out EXE SOURCES...
"""
import argparse
import os
import subprocess
import sys
import tempfile

SAN = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined", "-g", "-O1"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        sys.exit(r.returncode)


def probe(cxx):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "p.cpp")
        with open(src, "w") as f:
            f.write('#include <stdint.h>\n#include <stddef.h>\n'
                    'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n')
        r = subprocess.run([cxx] + SAN + [src, "-o", os.path.join(tmp, "p")], capture_output=True, text=True)
        if r.returncode != 0:
            print("clang with libFuzzer not usable (install libclang-rt-19-dev): " + r.stderr.strip()[:300])
            return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--cc")
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--root")
    ap.add_argument("--build-root", help="the meson build directory (generated headers)")
    ap.add_argument("--zydis")
    ap.add_argument("--out")
    ap.add_argument("sources", nargs="*")
    a = ap.parse_args()
    if a.probe:
        return probe(a.cxx)
    objdir = a.out + ".objs"
    os.makedirs(objdir, exist_ok=True)
    zydis_inc = ["-isystem", os.path.join(a.zydis, "include"), "-isystem", os.path.join(a.zydis, "src")]
    defs = ["-DZYDIS_STATIC_BUILD", "-DZYCORE_STATIC_BUILD"]
    objs = []
    for src in a.sources:
        obj = os.path.join(objdir, os.path.relpath(src, a.root).replace(os.sep, "_") + ".o")
        if src.endswith(".c"):
            cmd = [a.cc, "-std=gnu11", "-w"] + SAN + zydis_inc + defs + [
                "-DZYDIS_DISABLE_FORMATTER", "-DZYDIS_DISABLE_ENCODER", "-c", src, "-o", obj]
        else:
            cmd = [a.cxx, "-std=c++20", "-Wall", "-Wextra", "-I", a.root] + (["-I", a.build_root] if a.build_root else []) + SAN + zydis_inc + defs + ["-c", src, "-o", obj]
        run(cmd)
        objs.append(obj)
    run([a.cxx] + SAN + objs + ["-o", a.out])
    return 0


if __name__ == "__main__":
    sys.exit(main())
