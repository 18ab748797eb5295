"""The names of the guest programs' checks, read from their sources (tests/guest/*.cpp).

Every check a guest program makes is one call `check(ok, "name", ...)` (guest_runtime.hpp),
printing `apexvisor-guest: PASS name` or `FAIL name: detail`. The sources are the one list of
check names: a host test (tests/tools/test_tools.py, GuestCheckNamesTest) requires each
literal name to be expected as a PASS line by some boot scenario's EXPECT file, so a check
added without its expectation fails the suite. Names computed at run time (a variable as the
second argument) cannot be read here; they are counted, and their PASS lines stay in the
EXPECT files like any other.
"""

import os
import re


def _skip_string(text, i):
    """Index after the C string literal starting at text[i] (a '"')."""
    i += 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _arguments(text, i):
    """The top-level arguments of the call whose '(' is at text[i], as source slices."""
    depth, start, args = 0, i + 1, []
    while True:
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
            continue
        if c == "'":
            i = text.index("'", i + 2 if text[i + 1] == "\\" else i + 1) + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i])
                return args
        elif c == "," and depth == 1:
            args.append(text[start:i])
            start = i + 1
        i += 1


_LITERAL_PART = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*')


def _literal(arg):
    """The C string an argument spells (adjacent literals joined), or None if it is not one."""
    pos, parts = 0, []
    while pos < len(arg):
        m = _LITERAL_PART.match(arg, pos)
        if not m:
            return None
        parts.append(m.group(1))
        pos = m.end()
    if not parts:
        return None
    return bytes("".join(parts), "utf-8").decode("unicode_escape")


def _strip_comments(text):
    out, i = [], 0
    while i < len(text):
        if text.startswith("//", i):
            i = text.index("\n", i) if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text[i] == '"':
            j = _skip_string(text, i)
            out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_CALL = re.compile(r"(?<![\w:])check\s*\(")


def checks_in(text):
    """(literal names, failure-only names, count of computed names) of one source text.
    A failure-only check is `check(false, "name", ...)`: it reports a missing precondition and
    never passes."""
    text = _strip_comments(text)
    names, failure_only, computed = [], [], 0
    for m in _CALL.finditer(text):
        args = _arguments(text, m.end() - 1)
        if len(args) < 2:
            continue
        name = _literal(args[1])
        if name is None:
            computed += 1
        elif args[0].strip() == "false":
            failure_only.append(name)
        else:
            names.append(name)
    return names, failure_only, computed


def guest_checks(folder):
    """checks_in over every .cpp file of `folder`: {file: (names, failure_only, computed)}."""
    result = {}
    for n in sorted(os.listdir(folder)):
        if n.endswith(".cpp"):
            with open(os.path.join(folder, n), encoding="utf-8") as f:
                result[n] = checks_in(f.read())
    return result
