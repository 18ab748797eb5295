"""Serial logs: cleaning and checking against an EXPECT file.

OVMF drives the serial console as a terminal, so a raw log is full of ANSI escape sequences
(clear screen, cursor positioning, colours) and CR LF line ends. Everything that reads a log
(the runners' markers, check-serial) first cleans it with clean_text(): escape sequences,
carriage returns and other control characters go, tabs and newlines stay. Cursor-positioning
sequences are removed, not turned into newlines, so text OVMF places on the screen with
cursor moves (UiApp's menu) runs together on one line; lines printed with CR LF stay lines.
"""

import difflib
import os
import re
import sys
from dataclasses import dataclass, field

# CSI (ESC [ params intermediates final), OSC (ESC ] ... BEL/ST), charset selection (ESC ( B),
# and the two-byte escapes (ESC 7, ESC c, ...).
_ANSI_RE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+][0-9A-Za-z]|[0-9=>@-Z\\-_a-z])")
# C0 controls except TAB and LF, and DEL (this also drops a lone ESC left by a cut sequence).
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text):
    """Text with ANSI escape sequences, CR and other control characters removed."""
    return _CTRL_RE.sub("", _ANSI_RE.sub("", text))


def decode(data):
    """Serial bytes as text (UTF-8, undecodable bytes replaced)."""
    return data.decode("utf-8", errors="replace")


def read_log_lines(path):
    """The cleaned lines of a serial log file (a missing final newline is tolerated)."""
    with open(path, "rb") as f:
        text = clean_text(decode(f.read()))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def shorten(line, limit=200):
    """A log line cut for display (OVMF's screen drawing can make lines thousands long)."""
    if len(line) <= limit:
        return line
    return line[:limit] + " ...[+%d chars]" % (len(line) - limit)


# ---- EXPECT files ---------------------------------------------------------------------

EXPECT_FORMAT = r"""EXPECT file format (one rule per line):
  # text          a comment (a line whose first non-blank character is #); blank lines are ignored
  REGEX           ordered: a log line must match REGEX (Python re.search), after the line that
                  matched the previous ordered rule (each rule needs a later line than the last)
  =TEXT           ordered, TEXT is a literal substring instead of a regex
  *REGEX, *=TEXT  required somewhere in the log, in any position (e.g. per-CPU lines whose
                  order between CPUs is not fixed)
  !REGEX, !=TEXT  forbidden: no log line may match
  +REGEX, +=TEXT  an error line the scenario provokes on purpose: required somewhere in the
                  log, and the lines it matches are exempt from the built-in ban below
  Built in, for every EXPECT file: no line may carry an apexvisor error or fatal tag
  ([cpuN error], [cpuN fatal]) unless a '+' rule matches it.
  @include FILE   the rules of FILE (a path relative to this file's folder), in place: ordered
                  rules keep their position; shared by scenarios that must print the same lines
  Leading and trailing blanks of a rule are ignored (write \s or [ ] to match them). To start
  a regex with a literal #, =, *, ! or +, escape it: \#, \=, \*, \!, \+.
  The log is cleaned before matching: ANSI escape sequences, CR and other control characters
  are removed, so ^ anchors at the text OVMF printed at the start of a line.
Example:
  # apexvisor starts, VMX works on both CPUs, the next stage runs
  ^apexvisor: summary cpus=2 vmx_ok=2 \[cpu0 info\]
  *\[cpu1 info\].*VMXON
  =apexvisor-guest: hello from the next boot stage
  ^apexvisor-test: end
  !\[cpu\d+ fatal\]"""


class ExpectError(Exception):
    """A malformed EXPECT file (names the file and line)."""


@dataclass
class Rule:
    kind: str          # "ordered", "anywhere", "forbidden" or "provoked"
    text: str          # the pattern as written (without prefix)
    literal: bool
    lineno: int        # line in the EXPECT file
    regex: re.Pattern = field(repr=False, default=None)
    source: str = None  # the included file it came from (None: the EXPECT file itself)

    @property
    def where(self):
        if self.source is None:
            return "expect line %d" % self.lineno
        return "%s line %d" % (os.path.basename(self.source), self.lineno)

    def matches(self, line):
        if self.literal:
            return self.text in line
        return self.regex.search(line) is not None

    def describe(self):
        prefix = {"ordered": "", "anywhere": "*", "forbidden": "!", "provoked": "+"}[self.kind]
        return prefix + ("=" if self.literal else "") + self.text


MAX_INCLUDE_DEPTH = 8


def parse_expect(text, source="<expect>", base_dir=None, _depth=0, _included_as=None):
    """The rules of an EXPECT file's text; raises ExpectError on a bad line. `base_dir`:
    where @include paths start (None: @include is an error)."""
    rules = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@include"):
            rules.extend(_include(line[len("@include"):].strip(), source, lineno, base_dir, _depth))
            continue
        kind = "ordered"
        if line.startswith("!"):
            kind, line = "forbidden", line[1:]
        elif line.startswith("*"):
            kind, line = "anywhere", line[1:]
        elif line.startswith("+"):
            kind, line = "provoked", line[1:]
        literal = line.startswith("=")
        if literal:
            line = line[1:]
        if not line:
            raise ExpectError("%s:%d: empty pattern" % (source, lineno))
        rule = Rule(kind, line, literal, lineno, source=_included_as)
        if not literal:
            try:
                rule.regex = re.compile(line)
            except re.error as e:
                raise ExpectError("%s:%d: bad regular expression %r: %s" % (source, lineno, line, e))
        rules.append(rule)
    if not rules:
        raise ExpectError("%s: no rules" % source)
    return rules


def _include(name, source, lineno, base_dir, depth):
    """The rules of an @include line's file."""
    if not name:
        raise ExpectError("%s:%d: @include needs a file name" % (source, lineno))
    if base_dir is None:
        raise ExpectError("%s:%d: @include %s: no folder to find it in (rules given as text)" % (source, lineno, name))
    if depth >= MAX_INCLUDE_DEPTH:
        raise ExpectError("%s:%d: @include %s: more than %d levels deep (an include cycle?)"
                          % (source, lineno, name, MAX_INCLUDE_DEPTH))
    path = os.path.join(base_dir, name)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ExpectError("%s:%d: cannot read @include %s: %s" % (source, lineno, path, e.strerror))
    return parse_expect(text, path, os.path.dirname(path), depth + 1, _included_as=path)


def load_expect(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ExpectError("cannot read EXPECT file %s: %s" % (path, e.strerror))
    return parse_expect(text, path, os.path.dirname(os.path.abspath(path)))


# ---- checking ----------------------------------------------------------------------------

# apexvisor's own error and fatal lines: banned from every log unless a '+' rule names them.
ERROR_TAG = re.compile(r"\[cpu\d+ (error|fatal)\]")

@dataclass
class Result:
    ok: bool
    report: str
    matched: int = 0        # ordered rules matched
    ordered: int = 0        # ordered rules in total
    failures: list = field(default_factory=list)   # one short text per failed rule


def _marks():
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "\u2713\u2717\u00b7".encode(enc)
        return "\u2713", "\u2717", "\u00b7"
    except (UnicodeEncodeError, LookupError):
        return "+", "x", "."


def _closest(rule, lines, start, min_ratio=0.6):
    """Index of the log line from start on that looks most like the rule's text, or None."""
    want = rule.text if rule.literal else re.sub(r"\\(.)", r"\1", rule.text).strip("^$")
    best, best_ratio = None, min_ratio
    for i in range(start, len(lines)):
        m = difflib.SequenceMatcher(None, want, lines[i][:300], autojunk=False)
        if m.real_quick_ratio() <= best_ratio or m.quick_ratio() <= best_ratio:
            continue
        r = m.ratio()
        if r > best_ratio:
            best, best_ratio = i, r
    return best


def check(lines, rules, log_name="log", context=4):
    """Check cleaned log lines against rules; returns a Result with a readable report."""
    ok_mark, bad_mark, skip_mark = _marks()
    out = []
    failures = []
    ordered = [r for r in rules if r.kind == "ordered"]
    anywhere = [r for r in rules if r.kind in ("anywhere", "provoked")]
    provoked = [r for r in rules if r.kind == "provoked"]
    forbidden = [r for r in rules if r.kind == "forbidden"]

    def loc(i):
        return "log line %d: %s" % (i + 1, shorten(lines[i], 120))

    out.append("check-serial: %s (%d lines) against %d rules" % (log_name, len(lines), len(rules)))
    pos = 0               # first log index the next ordered rule may match
    last_match = None     # index of the line that matched the last ordered rule
    stopped = None        # the ordered rule that failed
    matched = 0
    if ordered:
        out.append("ordered:")
    for rule in ordered:
        if stopped is not None:
            out.append("  %s %s   (not checked)" % (skip_mark, rule.describe()))
            continue
        hit = next((i for i in range(pos, len(lines)) if rule.matches(lines[i])), None)
        if hit is not None:
            matched += 1
            out.append("  %s %s\n      -> %s" % (ok_mark, rule.describe(), loc(hit)))
            pos, last_match = hit + 1, hit
            continue
        stopped = rule
        earlier = next((i for i in range(0, pos) if rule.matches(lines[i])), None)
        note = "not found after log line %d" % pos if pos else "not found in the log"
        if earlier is not None:
            note += " (it appears earlier, out of order, at %s)" % loc(earlier)
        out.append("  %s %s\n      -> %s" % (bad_mark, rule.describe(), note))
        near = _closest(rule, lines, pos)
        if near is not None and earlier is None:
            out.append("      -> closest line after that point: %s" % loc(near))
        failures.append("expectation %r (%s) %s" % (rule.describe(), rule.where, note))

    if anywhere:
        out.append("anywhere:")
    for rule in anywhere:
        hit = next((i for i, l in enumerate(lines) if rule.matches(l)), None)
        if hit is not None:
            out.append("  %s %s\n      -> %s" % (ok_mark, rule.describe(), loc(hit)))
        else:
            out.append("  %s %s\n      -> not found in the log" % (bad_mark, rule.describe()))
            failures.append("required line %r (%s) not found" % (rule.describe(), rule.where))

    if forbidden:
        out.append("forbidden:")
    for rule in forbidden:
        hits = [i for i, l in enumerate(lines) if rule.matches(l)]
        if not hits:
            out.append("  %s %s   (absent)" % (ok_mark, rule.describe()))
            continue
        out.append("  %s %s   appeared %d time(s):" % (bad_mark, rule.describe(), len(hits)))
        for i in hits[:5]:
            out.append("      -> %s" % loc(i))
        if len(hits) > 5:
            out.append("      -> ... %d more" % (len(hits) - 5))
        failures.append("forbidden line %r (%s) appeared at log line %d"
                        % (rule.describe(), rule.where, hits[0] + 1))

    unexpected = [i for i, l in enumerate(lines)
                  if ERROR_TAG.search(l) and not any(r.matches(l) for r in provoked)]
    if unexpected:
        out.append("error lines no '+' rule names (%d):" % len(unexpected))
        for i in unexpected[:5]:
            out.append("  %s %s" % (bad_mark, loc(i)))
        if len(unexpected) > 5:
            out.append("      -> ... %d more" % (len(unexpected) - 5))
        failures.append("unexpected error line at log line %d: %s"
                        % (unexpected[0] + 1, shorten(lines[unexpected[0]], 120)))

    if stopped is not None:
        where = ("after log line %d (the last ordered match)" % (last_match + 1)
                 if last_match is not None else "at the start of the log")
        out.append("matching stopped at %s (%s), %s; log lines around that point:"
                   % (stopped.where, stopped.describe(), where))
        centre = last_match if last_match is not None else 0
        lo, hi = max(0, centre - context), min(len(lines), centre + 2 * context + 1)
        if not lines:
            out.append("      (the log is empty)")
        for i in range(lo, hi):
            mark = ">" if i == last_match else " "
            out.append("   %s %5d | %s" % (mark, i + 1, shorten(lines[i], 160)))
        if hi < len(lines):
            out.append("           ... %d more line(s) to the end of the log" % (len(lines) - hi))

    ok = not failures
    summary = "%d/%d ordered expectations matched" % (matched, len(ordered))
    if failures:
        summary += "; %d failure(s), first: %s" % (len(failures), failures[0])
    out.append("check-serial: %s (%s)" % ("PASS" if ok else "FAIL", summary))
    return Result(ok, "\n".join(out), matched, len(ordered), failures)


def check_files(log_path, expect_path, context=4):
    """Check a log file against an EXPECT file; raises ExpectError / OSError on bad input."""
    rules = load_expect(expect_path)
    lines = read_log_lines(log_path)
    return check(lines, rules, log_name=log_path, context=context)
