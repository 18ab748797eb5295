"""The #UD rule an x86-64 encoding with a REX2 prefix must raise, computed from its bytes alone.

An independent oracle for tests/decode/llvm_diff.py: it reads the prefixes, the REX2 payload,
the map (REX2.M0) and the opcode byte, and names the one rule that must fire, with the reason
tag apexvisor's decoder uses for it (decode/reason_table.def). It never looks at the decoder's
tables (decode/rex2_reserved.def): the rows below are written from the APX facts in
shared/apx/spec.md (copied here as citations; nothing reads that file at run time) and from the
SDM's LOCK rules, so a decoder that enforces the wrong rule, or a rule on the wrong opcode,
disagrees with it.

When several rules apply, the first one in this order wins, which is the order in which a
decoder meets the bytes:
  1. REX (40-4F) immediately before D5 (spec §1.2 "REX immediately before REX2").
  2. the byte after the payload is another prefix or escape (spec §1.2 "REX2 is the last
     prefix", "anything prefix-like after REX2", "0F after REX2", "legacy prefix bytes after
     REX2").
  3. JMPABS (map 0, A1): W=1, then 66/F2/F3, then 67/F0 (spec §1.4).
  4. the reserved opcode rows (spec §1.3), then the opcodes invalid in 64-bit mode (spec §1.2
     "anything prefix-like after REX2" list; CE INTO too, SDM Vol. 2 INTO "64-bit mode: #UD").
  5. MOV CR/DR (map 1, 20-23) with REX2.R4=1: CR16+/DR16+ do not exist (APX rule as quoted in
     LLVM PR #82584).
  6. LOCK (F0) on an instruction that is not one of the lockable read-modify-write forms with a
     memory destination (SDM Vol. 2 "LOCK—Assert LOCK# Signal Prefix": #UD). Only answered when
     the caller says the instruction exists (`exists`), since a reserved encoding gives its own
     #UD whatever the LOCK.
"""

LEGACY_PREFIXES = {0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65}

# (map, first, last, reason) for the byte after the payload; spec section in the comment.
_ROWS = [
    (0, 0xD5, 0xD5, "rex2_then_rex2"),           # §1.2 REX2 is terminal: no second REX2
    (0, 0xC4, 0xC5, "rex2_then_vex_evex"),       # §1.2 no VEX after REX2
    (0, 0x62, 0x62, "rex2_then_vex_evex"),       # §1.2 no EVEX after REX2
    (0, 0x0F, 0x0F, "rex2_then_escape"),         # §1.2 M0 selects map 1, no 0F byte
    (0, 0x40, 0x4F, "rex2_map0_40_4f"),          # §1.3 map 0 40-4F (REX in 64-bit mode)
    (0, 0x70, 0x7F, "rex2_map0_70_7f"),          # §1.3 map 0 70-7F Jcc rel8
    (0, 0xA0, 0xAF, "rex2_map0_a0_af"),          # §1.3 map 0 A0-AF (A1 with M0=0 is JMPABS, §1.4)
    (0, 0xE0, 0xEF, "rex2_map0_e0_ef"),          # §1.3 map 0 E0-EF
    (1, 0x0F, 0x0F, "rex2_map1_0f"),             # §1.2 map 1 0F (3DNow!) after REX2
    (1, 0x38, 0x38, "rex2_map1_38_3a"),          # §1.3 three-byte escapes
    (1, 0x3A, 0x3A, "rex2_map1_38_3a"),
    (1, 0x30, 0x37, "rex2_map1_30_37"),          # §1.3 WRMSR..GETSEC
    (1, 0x30, 0x3F, "rex2_map1_30_3f"),          # §1.3 KVM-RFC 13/20: the whole 0F 3x row
    (1, 0x80, 0x8F, "rex2_map1_80_8f"),          # §1.3 Jcc rel32
]
# §1.2: opcodes invalid in 64-bit mode stay invalid after REX2 (60-62, C4/C5, D5 are above).
_NO64 = {0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60, 0x61, 0x82, 0x9A,
         0xCE, 0xD4, 0xD6, 0xEA}

# SDM Vol. 2 LOCK: ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG NOT OR SBB SUB XOR
# XADD XCHG, memory destination only. (map, opcode) -> the ModRM.reg values that are lockable
# (None = any reg field).
_LOCKABLE = {
    (0, 0x00): None, (0, 0x01): None, (0, 0x08): None, (0, 0x09): None,  # ADD OR
    (0, 0x10): None, (0, 0x11): None, (0, 0x18): None, (0, 0x19): None,  # ADC SBB
    (0, 0x20): None, (0, 0x21): None, (0, 0x28): None, (0, 0x29): None,  # AND SUB
    (0, 0x30): None, (0, 0x31): None,                                    # XOR
    (0, 0x80): {0, 1, 2, 3, 4, 5, 6}, (0, 0x81): {0, 1, 2, 3, 4, 5, 6},  # group 1 but CMP
    (0, 0x83): {0, 1, 2, 3, 4, 5, 6},
    (0, 0x86): None, (0, 0x87): None,                                    # XCHG
    (0, 0xF6): {2, 3}, (0, 0xF7): {2, 3},                                # NOT NEG
    (0, 0xFE): {0, 1}, (0, 0xFF): {0, 1},                                # INC DEC
    (1, 0xAB): None, (1, 0xB3): None, (1, 0xBB): None,                   # BTS BTR BTC
    (1, 0xBA): {5, 6, 7},                                                # BTS BTR BTC imm8
    (1, 0xB0): None, (1, 0xB1): None,                                    # CMPXCHG
    (1, 0xC0): None, (1, 0xC1): None,                                    # XADD
    (1, 0xC7): {1},                                                      # CMPXCHG8B/16B
}


class Rex2Case:
    """The fields of a byte string that carries a REX2 prefix (None from parse() otherwise)."""

    def __init__(self, prefixes, payload, opcode, modrm):
        self.prefixes = prefixes          # the bytes before D5 (legacy prefixes and REX)
        self.payload = payload
        self.m0 = payload >> 7
        self.r4 = (payload >> 6) & 1
        self.w = (payload >> 3) & 1
        self.opcode = opcode
        self.modrm = modrm                # the byte after the opcode, or None

    @property
    def lock(self):
        return 0xF0 in self.prefixes


def parse(bs):
    """Splits prefixes / D5 / payload / opcode; None if the bytes do not reach a REX2 opcode."""
    i = 0
    while i < len(bs) and (bs[i] in LEGACY_PREFIXES or 0x40 <= bs[i] <= 0x4F):
        i += 1
    if i + 2 >= len(bs) or bs[i] != 0xD5:
        return None
    return Rex2Case(list(bs[:i]), bs[i + 1], bs[i + 2], bs[i + 3] if i + 3 < len(bs) else None)


def apx_rule(c):
    """The APX rule (rules 1-5 above) that must fire for Rex2Case c, or None."""
    if c.prefixes and 0x40 <= c.prefixes[-1] <= 0x4F:
        return "rex_before_rex2"
    if c.m0 == 0 and c.opcode in LEGACY_PREFIXES:
        return "rex2_then_legacy_prefix"
    if c.m0 == 0 and c.opcode == 0xA1:
        # A REX before a legacy prefix is ignored (SDM Vol. 2 §2.2.1), so only legacy bytes count.
        if c.w:
            return "jmpabs_w1"
        if {0x66, 0xF2, 0xF3} & set(c.prefixes):
            return "jmpabs_prefix"
        if {0x67, 0xF0} & set(c.prefixes):
            return "jmpabs_prefix_67_f0"
        return None
    for mapn, first, last, reason in _ROWS:
        if c.m0 == mapn and first <= c.opcode <= last:
            return reason
    if c.m0 == 0 and c.opcode in _NO64:
        return "rex2_map0_no64"
    if c.m0 == 1 and 0x20 <= c.opcode <= 0x23 and c.r4:
        return "rex2_cr_dr_r4"
    return None


def lock_allowed(c):
    """SDM LOCK rule: True if LOCK may prefix this opcode/ModRM (memory destination, lockable)."""
    if c.modrm is None or c.modrm >> 6 == 3:
        return False
    regs = _LOCKABLE.get((c.m0, c.opcode), False)
    if regs is False:
        return False
    return regs is None or ((c.modrm >> 3) & 7) in regs


def expected_reason(bs, exists=True):
    """The one #UD reason the bytes must get, or None where no APX/LOCK rule applies.

    `exists`: whether the instruction without its LOCK prefix is a defined instruction (the
    caller asks an independent disassembler); the LOCK rule is only applied when it is.
    """
    c = parse(bs)
    if c is None:
        return None
    rule = apx_rule(c)
    if rule:
        return rule
    if c.lock and exists and not lock_allowed(c):
        return "illegal_lock"
    return None
