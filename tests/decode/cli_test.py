#!/usr/bin/env python3
"""Smoke test of the apexvisor-decode CLI: argument and stdin input, modes, JSON fields,
exit statuses. Usage: cli_test.py PATH-TO-apexvisor-decode"""
import json
import subprocess
import sys

exe = sys.argv[1]
failures = []


def run(args, stdin=None):
    r = subprocess.run([exe] + args, input=stdin, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def expect(cond, what):
    if not cond:
        failures.append(what)


rc, out, _ = run(["--help"])
expect(rc == 0 and "usage:" in out, "--help prints usage, exit 0")
rc, _, err = run(["--bogus"])
expect(rc == 2 and "unknown option" in err, "unknown option: exit 2 with a message")
rc, _, err = run(["--mode", "48", "90"])
expect(rc == 2 and "--mode" in err, "bad --mode: exit 2")

# Bytes as separate arguments and as one string give the same object.
rc1, a, _ = run(["d5", "48", "89", "47", "08"])
rc2, b, _ = run(["d548894708"])
expect(rc1 == 0 and rc2 == 0 and a == b, "separate bytes == one hex string")
j = json.loads(a)
expect(j["valid"] and j["length"] == 5 and j["mnemonic"] == "mov", "mov with REX2: valid, length 5")
expect(j["text"] == "mov qword ptr [rdi + 8], r16", "text: " + j.get("text", ""))
expect(j["rex2"] == {"payload": "0x48", "m0": 0, "r4": 1, "x4": 0, "b4": 0, "w": 1, "r3": 0, "x3": 0, "b3": 0},
       "rex2 payload fields")
ops = j["operands"]
expect(ops[0]["kind"] == "mem" and ops[0]["base"]["name"] == "rdi" and ops[0]["disp"] == 8, "memory operand")
expect(ops[1]["kind"] == "reg" and ops[1]["reg"]["num"] == 16 and ops[1]["reg"]["size"] == 64, "register operand")

# One instruction per stdin line; comments and blank lines skipped.
rc, out, _ = run([], "d5 18 50\n# comment\n\n0xd5,0x00,0x74,0x05\nd5 00 a1 01 00 00 00 00 00 00 00\n")
lines = [json.loads(l) for l in out.splitlines()]
expect(rc == 0 and len(lines) == 3, "three stdin instructions, exit 0")
expect(lines[0]["text"] == "pushp r16", "pushp")
expect(not lines[1]["valid"] and lines[1]["fault"] == "ud" and lines[1]["reason"] == "rex2_map0_70_7f"
       and lines[1]["rule"] == "map0 70-7f", "jcc under REX2 is #UD with its rule")
expect(lines[2]["text"] == "jmpabs 1" and lines[2]["length"] == 11, "jmpabs")

rc, out, _ = run([], "zz\n90\n")
expect(rc == 1 and '"error"' in out.splitlines()[0] and json.loads(out.splitlines()[1])["valid"],
       "unreadable hex: error object, later lines still decoded, exit 1")

j = json.loads(run(["--mode", "32", "d5", "0a"])[1])
expect(j["valid"] and j["mnemonic"] == "aad" and j["length"] == 2, "32-bit mode: D5 is AAD")
j = json.loads(run(["--no-apx", "d5", "10", "50"])[1])
expect(not j["valid"] and j["reason"] == "rex2_apx_disabled", "--no-apx: REX2 is #UD")
j = json.loads(run(["d5", "10"])[1])
expect(not j["valid"] and j["fault"] == "truncated", "truncated")
j = json.loads(run(["62 f4 44 18 ff f0"])[1])
expect(j["valid"] and not j["emulatable"] and j["text"] == "push2 rdi, rax" and j["evex"]["map"] == 4,
       "EVEX-APX: valid, not emulated, evex fields")

for f in failures:
    print("FAIL:", f)
print("cli_test: %d failures" % len(failures))
sys.exit(1 if failures else 0)
