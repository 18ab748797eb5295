"""When a test may skip: the allowlist of platform facts, and the one skip-line format.

A test that cannot run prints one line

    SKIP[<fact>]: <reason in words>

and exits 77 (meson's "skipped"). tools/test accepts the skip only when <fact> is on the
allowlist below: each entry is a fact about the machine that no install step can change.
Every other skip (a missing package, a payload that could not be fetched, an untagged SKIP)
is counted as a failure, with its reason printed, in tools/test's closing line and exit
status. Reasons travel as data (argv, stdout), never spliced into code.
"""

import re
import sys

EXIT_SKIP = 77

# fact -> what it means. The README's test section lists the same entries (a host test
# checks that it does).
ALLOWED = {
    "no-kvm-nested-vmx": "this machine has no /dev/kvm on an Intel host with nested VMX, so "
                         "QEMU/KVM cannot give a guest VMX",
    "no-apx-hardware": "this CPU does not execute APX instructions (no APX silicon, no "
                       "QEMU/KVM with APX)",
    "no-bochs3-source": "Debian's archive, as this machine reaches it, does not give Bochs "
                        "3.0's source (its suite's Sources index lacks the version, or apt "
                        "cannot fetch the orig tarball), so tools/setup could not build it: the "
                        "Bochs 3.0 scenarios cannot run",
}
NO_BOCHS3_SOURCE = "no-bochs3-source"

# Facts that are not platform facts: tools use them so the line still says what is wrong,
# and tools/test turns them into failures.
MISSING_PREREQUISITE = "missing-prerequisite"

# A skip line at the start of a line, after at most a "run-scenario NAME: " prefix; the
# untagged "SKIP: ..." form is recognised too, so that it cannot hide behind an earlier tag.
_LINE = re.compile(r"^(?:run-scenario \S+: )?SKIP(?:\[([a-z0-9-]+)\])?: (.*)")


def line(fact, reason):
    """The skip line; a reason of several lines (a linker's message) becomes one."""
    parts = [l.strip() for l in str(reason).splitlines() if l.strip()]
    return "SKIP[%s]: %s" % (fact, " | ".join(parts))


def skip(fact, reason, stream=None):
    """Print the skip line and return the exit status to use."""
    print(line(fact, reason), file=stream or sys.stdout, flush=True)
    return EXIT_SKIP


def parse(output):
    """(fact, reason) of the last skip line in a test's output (fact None for an untagged
    one), or (None, None) when there is none."""
    found = (None, None)
    for text in (output or "").splitlines():
        m = _LINE.match(text)
        if m:
            found = (m.group(1), m.group(2).strip())
    return found


def verdict(output):
    """(allowed, description) for a test that exited 77 with this output."""
    fact, reason = parse(output)
    if fact is None:
        return False, "skipped without a SKIP[<fact>] line (an unexplained skip)"
    if fact in ALLOWED:
        return True, "%s: %s" % (fact, reason)
    return False, "%s: %s (not an allowed platform fact; allowed: %s)" % (
        fact, reason, ", ".join(sorted(ALLOWED)))


def main(argv=None):
    """tools/report-skip FACT REASON...: print the skip line, exit 77 (for meson tests that
    are decided at configure time)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: report-skip FACT REASON...", file=sys.stderr)
        return 2
    return skip(argv[0], " ".join(argv[1:]))
