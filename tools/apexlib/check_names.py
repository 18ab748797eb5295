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


# Check names computed at run time, declared: file -> (computed call sites in it, [(format,
# [argument tuples])]). The format is a C string literal of that file (printf style; a name
# taken from a table of literals is its own format with one empty tuple), expanded with every
# argument tuple the program uses. GuestCheckNamesTest requires each format to appear in its
# file, each file's count of computed sites to match (a new computed check must be declared
# here), and each expansion to be expected as a PASS line like a literal name.
_DT_FORMS = ["[base+index*8+disp8]", "[rip+disp32]", "[ebx+ecx*2+disp8] (67 prefix, junk in bits 63:32)"]
_DT_ALL_FORMS = ["[reg]"] + _DT_FORMS
COMPUTED = {
    "selftest_checks.cpp": (12, [
        ("CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE", [()]),
        ("CPUID.7:ECX.OSPKE follows CR4.PKE", [()]),  # where the CPU has PKU (icelake_u)
        *[(n, [()]) for n in ['xsetbv ECX=1 raises #GP (verdict: index not 0)', 'xsetbv without x87 (bit 0) raises #GP (verdict: x87 clear)', 'xsetbv AVX without SSE raises #GP (verdict: AVX without SSE, or AVX not offered)', 'xsetbv partial AVX-512 set raises #GP (verdict: partial, or AVX-512 not offered)', 'xsetbv reserved bit 10 raises #GP (verdict: reserved bit)', 'xsetbv reserved bit 63 raises #GP (verdict: reserved bit)']],
        *[(n, [()]) for n in ['RDMSR/WRMSR IA32_RTIT_OUTPUT_BASE (Intel PT) raise #GP', 'RDMSR/WRMSR IA32_RTIT_CTL (Intel PT) raise #GP', 'RDMSR/WRMSR IA32_DS_AREA (debug store) raise #GP', 'RDMSR/WRMSR IA32_PEBS_ENABLE raise #GP', 'RDMSR/WRMSR IA32_VMX_EXIT_CTLS2 raise #GP', "RDMSR/WRMSR Hyper-V's hypercall-page MSR raise #GP", "RDMSR/WRMSR KVM's system-time MSR raise #GP", "RDMSR/WRMSR KVM's legacy system-time MSR raise #GP", 'RDMSR/WRMSR IA32_PEBS_BASE (architectural PEBS) raise #GP', 'RDMSR/WRMSR IA32_HW_FEEDBACK_PTR (HFI) raise #GP']],
        ("code runs on AP %llu after virtualization (start %u)", [(1, 1), (1, 2)]),
        ("%s [reg] stores %u bytes and nothing more", [("SGDT", 10), ("SIDT", 10), ("SLDT", 2), ("STR", 2)]),
        ("%s %s matches %s [reg]", [(i, f, i) for i in ("SGDT", "SIDT", "SLDT", "STR") for f in _DT_FORMS]),
        ("%s r32 zero-extends the selector", [("SLDT",), ("STR",)]),
        ("%s r16 (66 prefix) keeps bits 63:16", [("SLDT",), ("STR",)]),
        ("%s r64 (REX.W) zero-extends the selector", [("SLDT",), ("STR",)]),
        ("%s r12d (REX.B) zero-extends the selector", [("SLDT",), ("STR",)]),
        ("%s %s loads a new base (read back with the store)", [(i, f) for i in ("LGDT", "LIDT") for f in _DT_ALL_FORMS]),
        ("%s restores the firmware's table", [("LGDT",), ("LIDT",)]),
    ]),
    "ap_restart_checks.cpp": (5, [
        (f, [(r,) for r in (1, 2, 3)]) for f in (
            "INIT-SIPI-SIPI from the guest starts the AP (restart %u)",
            "AP starts in real mode at CS=vector<<8 (restart %u)",
            "AP arrives with INIT's EDX (signature) and ESP=0 (restart %u)",
            "AP's real-mode CPUID still shows the hypervisor (restart %u)",
            "AP's real-mode RDMSR of a hidden MSR: #GP through the IVT, no error code (restart %u)")
    ]),
    # One set of arrival-state checks per restart round, and once in native mode after the AP
    # is restarted from its loop (ap_restart_checks.cpp, ap_native_init_checks.cpp).
    "ap_arrival_state_checks.cpp": (4, [
        (f, [("", " (restart %u)" % r) for r in (1, 2, 3)] + [("native: ", " (restarted from its loop)")]) for f in (
            "%sAP arrives with INIT's CR0=60000010H (CD NW ET) and CR4=0%s",
            "%sAP arrives with INIT's EFER=0, CR2=0 and DR7=400H%s",
            "%sAP arrives with INIT's DS ES FS GS SS selectors 0%s",
            "%sAP arrives with INIT's DS ES FS GS SS bases 0 (a word read through each)%s")
    ]),
    "attack.cpp": (4, [
        ("msr: %s: %s, answered by apexvisor", [('Intel PT: IA32_RTIT_OUTPUT_BASE = a hypervisor page', '#GP(0)'), ('Intel PT: IA32_RTIT_OUTPUT_MASK_PTRS', '#GP(0)'), ('Intel PT: IA32_RTIT_CTL.TraceEn', '#GP(0)'), ('Intel PT: RDMSR IA32_RTIT_CTL', '#GP(0)'), ('debug store: IA32_DS_AREA = a hypervisor page', '#GP(0)'), ('PEBS: IA32_PEBS_ENABLE', '#GP(0)'), ('architectural PEBS: IA32_PEBS_BASE = a hypervisor page', '#GP(0)'), ('KVM: MSR_KVM_WALL_CLOCK = a hypervisor page', '#GP(0)'), ('KVM: MSR_KVM_SYSTEM_TIME = a hypervisor page', '#GP(0)'), ('KVM: MSR_KVM_WALL_CLOCK_NEW = a hypervisor page', '#GP(0)'), ('KVM: MSR_KVM_SYSTEM_TIME_NEW = a hypervisor page', '#GP(0)'), ('KVM: MSR_KVM_ASYNC_PF_EN = a hypervisor page', '#GP(0)'), ('Hyper-V: HV_X64_MSR_GUEST_OS_ID', '#GP(0)'), ('Hyper-V: HV_X64_MSR_HYPERCALL page = a hypervisor page', '#GP(0)'), ('Hyper-V: HV_X64_MSR_VP_ASSIST_PAGE = a hypervisor page', '#GP(0)'), ('VMX: RDMSR IA32_VMX_BASIC', '#GP(0)'), ('VMX: RDMSR IA32_VMX_EXIT_CTLS2', '#GP(0)'), ('microcode: IA32_BIOS_UPDT_TRIG = a hypervisor page (dropped)', 'no fault, no effect')]),
        ("emulated write: %s: our bytes written, the hypervisor's discarded, RCX=0, RDI past the end",
         [("REP STOSB from our page into hypervisor memory",), ("REP STOSB from a watched page into hypervisor memory",)]),
        *[(n, [()]) for n in ['delivery: INT3 with the stack in hypervisor memory: its handler ran once (#BP), the CPU goes on', 'delivery: UD2 with the stack in hypervisor memory: its handler ran once (#UD), the CPU goes on', 'delivery: a self-IPI with the stack in hypervisor memory: its handler ran once, EOI cleared the ISR']],
        ("hypercall: %s", [(n,) for n in ['exit_counter of CPU 0xffffffff: unknown_cpu', 'exit_counter of CPU 2^63: unknown_cpu', 'exit_counter of reason 0x10000: bad_exit_reason', 'exit_counter of reason 2^64-1: bad_exit_reason', 'read_log at offset 2^64-1: ok, 0 bytes', 'monitor_add over hypervisor memory: monitor_not_ram', 'monitor_add of a range that wraps: monitor_bad_range', 'monitor_add of 0 bytes: monitor_bad_range', 'monitor_remove of a range never watched: monitor_no_such_range', 'monitor_read_event 2^60: monitor_no_event', 'monitor_read_event part 6: bad_argument', 'ept_page of 2^63 (above MAXPHYADDR): bad_argument', 'ept_page of 2^64-1: bad_argument', 'hypercall 12 (not in the table): #UD', 'hypercall 15 (not in the table): #UD', 'hypercall 20 (not in the table): #UD', 'hypercall 0xffffffff: #UD', 'hypercall 2^63: #UD']]),
    ]),
    # The write monitor's 43 instruction forms come from its probe table: declared by count
    # only (their PASS lines and the exact tally in bochs-monitor.expect hold them).
    "monitor_test.cpp": (2, []),
}


def expand(fmt, args):
    """The name a printf-style format gives with `args` (C's %llu is Python's %u)."""
    return re.sub(r"%l+([us])", r"%\1", fmt) % args if args else fmt


def computed_names(folder):
    """{file: [names]} of COMPUTED, after checking each format is a literal of its file; raises
    ValueError for one that is not (the source changed and the declaration did not)."""
    result = {}
    for f, (_, rows) in COMPUTED.items():
        with open(os.path.join(folder, f), encoding="utf-8") as fh:
            text = fh.read()
        names = []
        for fmt, tuples in rows:
            if '"%s"' % fmt.replace("\\", "\\\\").replace('"', '\\"') not in text:
                raise ValueError("%s: the format %r is no string literal of the file" % (f, fmt))
            names.extend(expand(fmt, t) for t in tuples)
        result[f] = names
    return result
