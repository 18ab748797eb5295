#include "decode/zydis_bridge.hpp"

namespace decode {

ZyanStatus zydis_decode(const uint8_t* bytes, size_t length, CpuMode mode, bool real_mode, ZydisOutput& z,
                        bool mpx) {
  ZydisDecoder d;
  ZydisMachineMode mm;
  ZydisStackWidth sw;
  switch (mode) {
    case CpuMode::bits64: mm = ZYDIS_MACHINE_MODE_LONG_64; sw = ZYDIS_STACK_WIDTH_64; break;
    case CpuMode::bits32: mm = ZYDIS_MACHINE_MODE_LEGACY_32; sw = ZYDIS_STACK_WIDTH_32; break;
    default: mm = real_mode ? ZYDIS_MACHINE_MODE_REAL_16 : ZYDIS_MACHINE_MODE_LEGACY_16; sw = ZYDIS_STACK_WIDTH_16; break;
  }
  ZyanStatus st = ZydisDecoderInit(&d, mm, sw);
  if (!ZYAN_SUCCESS(st)) return st;
  if (!mpx) ZydisDecoderEnableMode(&d, ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
  return ZydisDecoderDecodeFull(&d, bytes, length, &z.insn, z.ops);
}

Reason reason_from_zydis(ZyanStatus status) {
  switch (status) {
    case ZYDIS_STATUS_NO_MORE_DATA: return Reason::truncated;
    case ZYDIS_STATUS_INSTRUCTION_TOO_LONG: return Reason::too_long;
    case ZYDIS_STATUS_DECODING_ERROR: return Reason::invalid_opcode;
    case ZYDIS_STATUS_BAD_REGISTER: return Reason::bad_register;
    case ZYDIS_STATUS_ILLEGAL_LOCK: return Reason::illegal_lock;
    case ZYDIS_STATUS_ILLEGAL_LEGACY_PFX: return Reason::illegal_prefix;
    case ZYDIS_STATUS_ILLEGAL_REX: return Reason::illegal_rex;
    case ZYDIS_STATUS_INVALID_MAP: return Reason::invalid_map;
    case ZYDIS_STATUS_MALFORMED_EVEX: return Reason::malformed_evex;
    case ZYDIS_STATUS_MALFORMED_MVEX: return Reason::invalid_opcode;  // KNC is not an Intel64 CPU
    case ZYDIS_STATUS_INVALID_MASK: return Reason::invalid_mask;
    default: return Reason::internal;
  }
}

Reg reg_from_zydis(ZydisRegister r) {
  Reg g;
  if (r == ZYDIS_REGISTER_NONE) return g;
  const ZydisRegisterClass cls = ZydisRegisterGetClass(r);
  const ZyanI8 id = ZydisRegisterGetId(r);
  const uint8_t num = id < 0 ? 0 : static_cast<uint8_t>(id);
  switch (cls) {
    case ZYDIS_REGCLASS_GPR8: {
      // Zydis order: AL CL DL BL AH CH DH BH SPL BPL SIL DIL R8B..R15B.
      const unsigned i = static_cast<unsigned>(r - ZYDIS_REGISTER_AL);
      g.cls = RegClass::gpr;
      g.bits = 8;
      if (i < 4) {
        g.num = static_cast<uint8_t>(i);
      } else if (i < 8) {
        g.num = static_cast<uint8_t>(i - 4);
        g.high8 = true;
      } else {
        g.num = static_cast<uint8_t>(i - 4);
      }
      return g;
    }
    case ZYDIS_REGCLASS_GPR16: g.cls = RegClass::gpr; g.bits = 16; g.num = num; return g;
    case ZYDIS_REGCLASS_GPR32: g.cls = RegClass::gpr; g.bits = 32; g.num = num; return g;
    case ZYDIS_REGCLASS_GPR64: g.cls = RegClass::gpr; g.bits = 64; g.num = num; return g;
    case ZYDIS_REGCLASS_X87: g.cls = RegClass::x87; g.bits = 80; g.num = num; return g;
    case ZYDIS_REGCLASS_MMX: g.cls = RegClass::mmx; g.bits = 64; g.num = num; return g;
    case ZYDIS_REGCLASS_XMM: g.cls = RegClass::xmm; g.bits = 128; g.num = num; return g;
    case ZYDIS_REGCLASS_YMM: g.cls = RegClass::ymm; g.bits = 256; g.num = num; return g;
    case ZYDIS_REGCLASS_ZMM: g.cls = RegClass::zmm; g.bits = 512; g.num = num; return g;
    case ZYDIS_REGCLASS_TMM: g.cls = RegClass::tmm; g.bits = 0; g.num = num; return g;
    case ZYDIS_REGCLASS_SEGMENT: g.cls = RegClass::seg; g.bits = 16; g.num = num; return g;
    case ZYDIS_REGCLASS_CONTROL: g.cls = RegClass::cr; g.bits = 64; g.num = num; return g;
    case ZYDIS_REGCLASS_DEBUG: g.cls = RegClass::dr; g.bits = 64; g.num = num; return g;
    case ZYDIS_REGCLASS_MASK: g.cls = RegClass::mask; g.bits = 64; g.num = num; return g;
    case ZYDIS_REGCLASS_BOUND: g.cls = RegClass::bnd; g.bits = 128; g.num = num; return g;
    case ZYDIS_REGCLASS_IP:
      g.cls = RegClass::ip;
      g.bits = r == ZYDIS_REGISTER_RIP ? 64 : r == ZYDIS_REGISTER_EIP ? 32 : 16;
      return g;
    case ZYDIS_REGCLASS_FLAGS:
      g.cls = RegClass::flags;
      g.bits = r == ZYDIS_REGISTER_RFLAGS ? 64 : r == ZYDIS_REGISTER_EFLAGS ? 32 : 16;
      return g;
    default:
      g.cls = RegClass::other;
      g.zydis = static_cast<uint16_t>(r);
      return g;
  }
}

namespace {

Field field_from_zydis(ZydisOperandEncoding e) {
  switch (e) {
    case ZYDIS_OPERAND_ENCODING_MODRM_REG: return Field::modrm_reg;
    case ZYDIS_OPERAND_ENCODING_MODRM_RM: return Field::modrm_rm;
    case ZYDIS_OPERAND_ENCODING_OPCODE: return Field::opcode_reg;
    case ZYDIS_OPERAND_ENCODING_NDSNDD: return Field::vvvv;
    case ZYDIS_OPERAND_ENCODING_IS4: return Field::is4;
    case ZYDIS_OPERAND_ENCODING_MASK: return Field::mask;
    case ZYDIS_OPERAND_ENCODING_NONE: return Field::none;
    case ZYDIS_OPERAND_ENCODING_DISP8: case ZYDIS_OPERAND_ENCODING_DISP16:
    case ZYDIS_OPERAND_ENCODING_DISP32: case ZYDIS_OPERAND_ENCODING_DISP64:
    case ZYDIS_OPERAND_ENCODING_DISP16_32_64: case ZYDIS_OPERAND_ENCODING_DISP32_32_64:
    case ZYDIS_OPERAND_ENCODING_DISP16_32_32:
      return Field::disp;
    default: return Field::imm;
  }
}

uint8_t access_from_zydis(ZydisOperandActions a) {
  uint8_t r = 0;
  if (a & ZYDIS_OPERAND_ACTION_READ) r |= access_read;
  if (a & ZYDIS_OPERAND_ACTION_WRITE) r |= access_write;
  if (a & ZYDIS_OPERAND_ACTION_CONDREAD) r |= access_cond_read;
  if (a & ZYDIS_OPERAND_ACTION_CONDWRITE) r |= access_cond_write;
  return r;
}

uint8_t broadcast_count(ZydisBroadcastMode m) {
  switch (m) {
    case ZYDIS_BROADCAST_MODE_1_TO_2: return 2;
    case ZYDIS_BROADCAST_MODE_1_TO_4: return 4;
    case ZYDIS_BROADCAST_MODE_1_TO_8: return 8;
    case ZYDIS_BROADCAST_MODE_1_TO_16: return 16;
    case ZYDIS_BROADCAST_MODE_1_TO_32: return 32;
    case ZYDIS_BROADCAST_MODE_1_TO_64: return 64;
    default: return 0;
  }
}

uint8_t rounding_from_zydis(ZydisRoundingMode m) {
  switch (m) {
    case ZYDIS_ROUNDING_MODE_RN: return 1;
    case ZYDIS_ROUNDING_MODE_RD: return 2;
    case ZYDIS_ROUNDING_MODE_RU: return 3;
    case ZYDIS_ROUNDING_MODE_RZ: return 4;
    default: return 0;
  }
}

uint8_t map_number(ZydisOpcodeMap m) {
  switch (m) {
    case ZYDIS_OPCODE_MAP_DEFAULT: return 0;
    case ZYDIS_OPCODE_MAP_0F: return 1;
    case ZYDIS_OPCODE_MAP_0F38: return 2;
    case ZYDIS_OPCODE_MAP_0F3A: return 3;
    case ZYDIS_OPCODE_MAP_MAP4: return 4;
    case ZYDIS_OPCODE_MAP_MAP5: return 5;
    case ZYDIS_OPCODE_MAP_MAP6: return 6;
    case ZYDIS_OPCODE_MAP_MAP7: return 7;
    case ZYDIS_OPCODE_MAP_0F0F: return 0x0F;
    case ZYDIS_OPCODE_MAP_XOP8: return 8;
    case ZYDIS_OPCODE_MAP_XOP9: return 9;
    case ZYDIS_OPCODE_MAP_XOPA: return 10;
    default: return 0xFF;
  }
}

Encoding encoding_from_zydis(ZydisInstructionEncoding e) {
  switch (e) {
    case ZYDIS_INSTRUCTION_ENCODING_3DNOW: return Encoding::amd3dnow;
    case ZYDIS_INSTRUCTION_ENCODING_XOP: return Encoding::xop;
    case ZYDIS_INSTRUCTION_ENCODING_VEX: return Encoding::vex;
    case ZYDIS_INSTRUCTION_ENCODING_EVEX: return Encoding::evex;
    case ZYDIS_INSTRUCTION_ENCODING_MVEX: return Encoding::mvex;
    default: return Encoding::legacy;
  }
}

}  // namespace

void convert_from_zydis(const ZydisOutput& z, Instruction& out) {
  const ZydisDecodedInstruction& in = z.insn;
  out.mnemonic = zy(in.mnemonic);
  // F3 0F 09 is WBNOINVD (SDM Vol. 2 WBNOINVD; CPUs without it execute WBINVD). Zydis 4.0.0
  // has neither the mnemonic nor a table entry for it.
  if (in.mnemonic == ZYDIS_MNEMONIC_WBINVD && out.prefixes.last_rep == 0xF3) out.mnemonic = Mnemonic::wbnoinvd;
  out.encoding = encoding_from_zydis(in.encoding);
  out.map = map_number(in.opcode_map);
  out.opcode = in.opcode;
  out.operand_bits = in.operand_width;
  out.address_bits = in.address_width;
  out.stack_bits = in.stack_width;
  out.zydis_attributes = in.attributes;
  out.zydis_category = static_cast<uint8_t>(in.meta.category);
  out.far_branch = in.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR;
  out.has_modrm = (in.attributes & ZYDIS_ATTRIB_HAS_MODRM) != 0;
  out.modrm = static_cast<uint8_t>((in.raw.modrm.mod << 6) | (in.raw.modrm.reg << 3) | in.raw.modrm.rm);
  out.has_sib = (in.attributes & ZYDIS_ATTRIB_HAS_SIB) != 0;
  out.sib = static_cast<uint8_t>((in.raw.sib.scale << 6) | (in.raw.sib.index << 3) | in.raw.sib.base);

  out.prefixes.mandatory = 0;
  for (unsigned i = 0; i < in.raw.prefix_count && i < ZYDIS_MAX_INSTRUCTION_LENGTH; ++i) {
    if (in.raw.prefixes[i].type == ZYDIS_PREFIX_TYPE_MANDATORY) out.prefixes.mandatory = in.raw.prefixes[i].value;
  }
  // An explicit segment override applies to the ModRM memory operand, a moffs operand and the
  // source of a string instruction; Zydis reports the default segment in 64-bit mode.
  Reg override;
  switch (out.prefixes.segment) {
    case 0x26: override = reg_from_zydis(ZYDIS_REGISTER_ES); break;
    case 0x2E: override = reg_from_zydis(ZYDIS_REGISTER_CS); break;
    case 0x36: override = reg_from_zydis(ZYDIS_REGISTER_SS); break;
    case 0x3E: override = reg_from_zydis(ZYDIS_REGISTER_DS); break;
    case 0x64: override = reg_from_zydis(ZYDIS_REGISTER_FS); break;
    case 0x65: override = reg_from_zydis(ZYDIS_REGISTER_GS); break;
    default: break;
  }

  out.avx.vector_bits = in.avx.vector_length;
  out.avx.mask = Reg{};
  if (in.avx.mask.reg != ZYDIS_REGISTER_NONE && in.avx.mask.reg != ZYDIS_REGISTER_K0) {
    out.avx.mask = reg_from_zydis(in.avx.mask.reg);
  }
  out.avx.zeroing = in.avx.mask.mode == ZYDIS_MASK_MODE_ZEROING;
  out.avx.rounding = rounding_from_zydis(in.avx.rounding.mode);
  out.avx.sae = in.avx.has_sae;

  out.operand_count = in.operand_count;
  unsigned imm_index = 0;
  for (unsigned i = 0; i < in.operand_count && i < kMaxOperands; ++i) {
    const ZydisDecodedOperand& s = z.ops[i];
    Operand& d = out.operands[i];
    d = Operand{};
    d.visibility = s.visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT   ? Visibility::explicit_
                   : s.visibility == ZYDIS_OPERAND_VISIBILITY_IMPLICIT ? Visibility::implicit
                                                                       : Visibility::hidden;
    d.field = field_from_zydis(s.encoding);
    d.access = access_from_zydis(s.actions);
    d.bits = s.size;
    switch (s.type) {
      case ZYDIS_OPERAND_TYPE_REGISTER:
        d.kind = OperandKind::reg;
        d.reg = reg_from_zydis(s.reg.value);
        break;
      case ZYDIS_OPERAND_TYPE_MEMORY: {
        d.kind = OperandKind::mem;
        Mem& m = d.mem;
        m.kind = s.mem.type == ZYDIS_MEMOP_TYPE_AGEN  ? MemKind::agen
                 : s.mem.type == ZYDIS_MEMOP_TYPE_MIB  ? MemKind::mib
                 : s.mem.type == ZYDIS_MEMOP_TYPE_VSIB ? MemKind::vsib
                                                       : MemKind::data;
        m.segment = reg_from_zydis(s.mem.segment);
        m.base = reg_from_zydis(s.mem.base);
        m.index = reg_from_zydis(s.mem.index);
        m.scale = m.index.present() ? s.mem.scale : 0;
        m.disp = s.mem.disp.has_displacement ? s.mem.disp.value : 0;
        m.addr_bits = in.address_width;
        const bool encoded = s.encoding == ZYDIS_OPERAND_ENCODING_MODRM_RM;
        m.sib = encoded && out.has_sib;
        m.sib_scale = m.sib ? static_cast<uint8_t>(1u << in.raw.sib.scale) : 0;
        m.disp_bytes = (encoded || s.mem.disp.has_displacement) ? static_cast<uint8_t>(in.raw.disp.size / 8) : 0;
        // ES:[rDI] of string instructions cannot be overridden (SDM Vol. 1 §3.7.5).
        const bool string_dst = s.encoding == ZYDIS_OPERAND_ENCODING_NONE && m.base.is_gpr() && m.base.num == 7 &&
                                (in.meta.category == ZYDIS_CATEGORY_STRINGOP ||
                                 in.meta.category == ZYDIS_CATEGORY_IOSTRINGOP);
        const bool stack = m.base.is_gpr() && m.base.num == 4 && s.encoding == ZYDIS_OPERAND_ENCODING_NONE;
        if (override.present() && !string_dst && !stack && m.segment.present()) {
          m.segment = override;
          m.segment_override = true;
        }
        if (in.avx.broadcast.mode != ZYDIS_BROADCAST_MODE_INVALID && !in.avx.broadcast.is_static && encoded) {
          m.broadcast = broadcast_count(in.avx.broadcast.mode);
        }
        break;
      }
      case ZYDIS_OPERAND_TYPE_POINTER:
        d.kind = OperandKind::far_ptr;
        d.imm.value = s.ptr.offset;
        d.far_selector = s.ptr.segment;
        break;
      case ZYDIS_OPERAND_TYPE_IMMEDIATE: {
        d.kind = s.imm.is_relative ? OperandKind::rel : OperandKind::imm;
        d.imm.value = s.imm.value.u;
        d.imm.is_signed = s.imm.is_signed;
        if (s.visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN && imm_index < 2 &&
            s.encoding != ZYDIS_OPERAND_ENCODING_NONE) {
          d.imm.bytes = static_cast<uint8_t>(in.raw.imm[imm_index].size / 8);
          ++imm_index;
        }
        break;
      }
      default:
        d.kind = OperandKind::none;
        break;
    }
  }
}

}  // namespace decode
