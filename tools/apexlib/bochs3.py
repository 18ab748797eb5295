"""Where tools/setup builds Bochs 3.0 and what state the build is in.

tools/bochs3-build.conf holds the source and the configure flags; the build goes into
<cache>/bochs-3.0-<key>/ (key: the first 12 hex digits of the SHA256 of the file's KEY=VALUE
lines), <cache> being $APEXVISOR_CACHE_DIR or ~/.cache/apexvisor. tools/setup asks this module
for the paths (`python3 -m apexlib.bochs3 --print dir`), so the rule is written once.

A finished build holds bin/bochs, bios/ (BXSHARE) and the stamp file `complete` (written last).
When tools/setup finds that the source cannot be had (not in the suite's Sources index, or apt
cannot fetch the orig tarball), it writes the reason into <cache>/bochs-3.0-<key>.unavailable
and the Bochs 3.0 scenarios skip with it as a platform fact (skips.NO_BOCHS3_SOURCE).
"""

import argparse
import hashlib
import os
import sys

_TOOLS = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
CONF = os.path.join(_TOOLS, "bochs3-build.conf")
VERSION = "3.0"


def settings(conf=CONF):
    """The KEY=VALUE lines as a dict (comments and blank lines ignored)."""
    out = {}
    for line in _setting_lines(conf):
        key, _, value = line.partition("=")
        out[key] = value
    return out


def _setting_lines(conf):
    with open(conf, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l[:1].isupper() and "=" in l]


def key(conf=CONF):
    text = "".join(l + "\n" for l in _setting_lines(conf))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_root():
    root = os.environ.get("APEXVISOR_CACHE_DIR")
    if root:
        return os.path.abspath(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "apexvisor")


def build_dir(conf=CONF):
    return os.path.join(cache_root(), "bochs-%s-%s" % (VERSION, key(conf)))


def binary(conf=CONF):
    return os.path.join(build_dir(conf), "bin", "bochs")


def bxshare(conf=CONF):
    return os.path.join(build_dir(conf), "bios")


def unavailable_file(conf=CONF):
    return build_dir(conf) + ".unavailable"


def state(conf=CONF):
    """('ready', dir), ('unavailable', reason) or ('missing', what to do)."""
    d = build_dir(conf)
    if os.path.isfile(os.path.join(d, "complete")) and os.access(binary(conf), os.X_OK):
        return "ready", d
    try:
        with open(unavailable_file(conf), encoding="utf-8") as f:
            reason = " ".join(f.read().split())
        return "unavailable", reason or "(no reason recorded)"
    except FileNotFoundError:
        pass
    return "missing", "Bochs %s is not built in %s (run tools/setup: it builds it from Debian's " \
                      "source package)" % (VERSION, d)


def main(argv=None):
    p = argparse.ArgumentParser(prog="apexlib.bochs3", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--print", required=True, metavar="WHAT",
                   choices=["dir", "binary", "bxshare", "unavailable-file", "key", "state"] +
                   sorted(settings()),
                   help="print one value: dir, binary, bxshare, unavailable-file, key, state, "
                        "or a setting of tools/bochs3-build.conf")
    args = p.parse_args(argv)
    values = {"dir": build_dir, "binary": binary, "bxshare": bxshare,
              "unavailable-file": unavailable_file, "key": key,
              "state": lambda: "%s: %s" % state()}
    print(values[args.print]() if args.print in values else settings()[args.print])
    return 0


if __name__ == "__main__":
    sys.exit(main())
