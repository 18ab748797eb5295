"""tools/test's closing line, from meson's JSON test log (meson-logs/testlog.json).

A skip counts as skipped only when its SKIP[<fact>] line names an allowed platform fact
(skips.py); every other skip is a failure, and so is a log that is missing or holds no test.
"""

import json

from . import skips

_PASSED = ("OK", "EXPECTEDFAIL")


def summarize(path, meson_status=0):
    """(counts, notes): counts has passed/failed/skipped; notes are lines to print, one per
    skip (allowed or not) and one per problem with the log itself."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    notes = []
    try:
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        counts["failed"] += 1
        notes.append("tools/test: FAILED: meson's test log %s cannot be read: %s" % (path, e))
        return counts, notes
    for r in records:
        result = r.get("result", "")
        name = r.get("name", "?")
        if result in _PASSED:
            counts["passed"] += 1
        elif result == "SKIP":
            allowed, why = skips.verdict(r.get("stdout", ""))
            if allowed:
                counts["skipped"] += 1
                notes.append("tools/test: skipped %s (allowed platform fact) %s" % (name, why))
            else:
                counts["failed"] += 1
                notes.append("tools/test: FAILED %s: unexpected skip: %s" % (name, why))
        else:
            counts["failed"] += 1
    if not records:
        counts["failed"] += 1
        notes.append("tools/test: FAILED: meson ran no test")
    # Skips exit 77, which meson counts as neither pass nor fail; a non-zero status with no
    # failed record means the run itself broke off (interrupted, timed out, crashed).
    elif meson_status not in (0, 1) or (meson_status == 1 and counts["failed"] == 0):
        counts["failed"] += 1
        notes.append("tools/test: FAILED: meson test exited with status %d, with no failed test "
                     "in its log: the run did not complete" % meson_status)
    return counts, notes


def closing_line(counts):
    return "tests: %d passed, %d failed, %d skipped" % (
        counts["passed"], counts["failed"], counts["skipped"])


def main(argv):
    counts, notes = summarize(argv[0], int(argv[1]) if len(argv) > 1 else 0)
    for n in notes:
        print(n)
    print(closing_line(counts))
    return 1 if counts["failed"] else 0
