#!/usr/bin/env python3
"""The exit stub's re-entry window in the built image (vmm/host/reentry_window.hpp).

The host's NMI handler sends an NMI that lands between the stub's last test of Vcpu::pending
and its VMRESUME back to the test. That is only sound if, in the linked image:
  - the instruction after `call apex_handle_exit` starts the window and tests the pending-work
    word (cmpl $0, APEX_VCPU_PENDING_OFFSET(%rdi)), with its branch taken to a call of
    apex_do_pending_work followed by a jump back to the window's start;
  - from there to the VMRESUME nothing moves RSP, calls, returns or stores (running it again
    must be harmless: it only loads the guest's registers);
  - apex_reentry_window holds exactly {window start, VMRESUME} (its two relocations).

  reentry_window.py --objdump OBJDUMP --readelf READELF --layout vmm/vcpu_layout.h IMAGE.so
Exit status 0 when all hold; otherwise each broken rule is printed.
"""
import argparse
import re
import subprocess
import sys

INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
SYMBOL = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
FORBIDDEN = re.compile(r"^(call|ret|push|pop|leave|enter|syscall|iret)|%rsp\b|%esp\b")


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout


def stub_instructions(objdump, image):
    """[(address, text)] of apex_vm_exit_entry, in order."""
    out, insns, inside = run([objdump, "-d", "--no-show-raw-insn", image]), [], False
    for line in out.splitlines():
        m = SYMBOL.match(line)
        if m:
            inside = m.group(2) == "apex_vm_exit_entry"
            continue
        m = INSN.match(line)
        if inside and m:
            insns.append((int(m.group(1), 16), " ".join(m.group(2).split())))
    return insns


def window_table(readelf, image):
    """The two addresses apex_reentry_window holds (R_X86_64_RELATIVE addends), or None."""
    syms = run([readelf, "-sW", image])
    addr = None
    for line in syms.splitlines():
        f = line.split()
        if len(f) >= 8 and f[-1] == "apex_reentry_window":
            addr = int(f[1], 16)
    if addr is None:
        return None
    relocs = {}
    for line in run([readelf, "-rW", image]).splitlines():
        f = line.split()
        if len(f) >= 4 and "RELATIVE" in f[2]:
            relocs[int(f[0], 16)] = int(f[-1], 16)
    return relocs.get(addr), relocs.get(addr + 8)


def check(insns, table, offset):
    errors = []
    calls = [i for i, (_, t) in enumerate(insns) if t.startswith("call") and "apex_handle_exit" in t]
    if len(calls) != 1:
        return ["expected one call of apex_handle_exit in apex_vm_exit_entry, found %d" % len(calls)], 0
    first = calls[0] + 1
    start = insns[first][0]
    vmresume = [i for i, (_, t) in enumerate(insns) if t == "vmresume"]
    if len(vmresume) != 1 or vmresume[0] < first:
        return ["expected one VMRESUME after the call, found %d" % len(vmresume)], 0
    window = insns[first:vmresume[0] + 1]
    test = "cmpl $0x0, %s(%%rdi)" % hex(offset)
    texts = [t for _, t in window]
    if len(texts) < 3 or texts[0] != "movq (%rsp), %rdi" or texts[1] != test or not texts[2].startswith("jne"):
        errors.append("the window does not start with the pending-work test (%s): %s" % (test, texts[:3]))
    else:
        target = int(texts[2].split()[1], 16)
        after = [t for a, t in insns if a >= target][:2]
        if len(after) < 2 or "apex_do_pending_work" not in after[0] or not after[1].startswith("jmp") \
                or int(after[1].split()[1], 16) != start:
            errors.append("the test's branch does not call apex_do_pending_work and return to the window: %s" % after)
    for a, t in window[3:-1]:
        if FORBIDDEN.search(t) or (t.startswith("mov") and re.search(r",\s*-?(0x[0-9a-f]+)?\(", t)):
            errors.append("0x%x: %s inside the window (only loads may run twice)" % (a, t))
    if table != (start, insns[vmresume[0]][0]):
        errors.append("apex_reentry_window holds %s, the window is %s" %
                      (table, (hex(start), hex(insns[vmresume[0]][0]))))
    return errors, len(window) - 4


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objdump", required=True)
    p.add_argument("--readelf", required=True)
    p.add_argument("--layout", required=True, help="vmm/vcpu_layout.h (APEX_VCPU_PENDING_OFFSET)")
    p.add_argument("image")
    a = p.parse_args()
    with open(a.layout) as f:
        m = re.search(r"#define APEX_VCPU_PENDING_OFFSET (\d+)", f.read())
    if not m:
        print("FAIL: no APEX_VCPU_PENDING_OFFSET in %s" % a.layout)
        return 1
    offset = int(m.group(1))
    insns = stub_instructions(a.objdump, a.image)
    if not insns:
        print("FAIL: no apex_vm_exit_entry in %s" % a.image)
        return 1
    errors, size = check(insns, window_table(a.readelf, a.image), offset)
    for e in errors:
        print("FAIL: " + e)
    if not errors:
        print("ok  re-entry window: the pending-work test, %d instructions of loads, VMRESUME; the table matches" % size)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
