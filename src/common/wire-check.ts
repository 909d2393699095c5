/**
 * A strict walk over protobuf wire bytes, against the message types of the contract, before
 * protobufjs decodes them. protobufjs 7 is lenient where it must not be: its Buffer reader clamps a
 * string whose length prefix claims more than the message holds (a role claiming 2 GiB with three
 * bytes present decodes as "abc"), its 32-bit varint reader keeps the low 32 bits of a longer
 * length (2^32 + 3 reads as 3), and its decoders trust a field's number without its wire type. A
 * message that passes this walk decodes to what its bytes say; one that does not is refused whole.
 *
 * What the walk requires: every varint at most 10 bytes (and within 64 bits); tags and length
 * prefixes, which protobufjs reads as 32 bits, at most 5 bytes; every length under 2^31 and within
 * the bytes left in the enclosing message; fixed-width values complete; each declared field in the
 * wire type of its declared type (repeated scalars also packed, with whole elements); nested
 * messages walked the same way, at most 100 deep (protobufjs' own limit); unknown fields well
 * formed, and no groups (proto3 has none). Strings are not checked for UTF-8: protobufjs replaces
 * bad sequences, and our own encoder writes a lone surrogate as such a sequence.
 */
import protobuf from 'protobufjs';

/** Bytes that do not follow the wire format of the message type they are read as. */
export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

/** protobufjs' Reader.recursionLimit: a message nested deeper is refused. */
const MAX_DEPTH = 100;
/** Length prefixes are read into a signed 32-bit sum by protobufjs; 2^31 and more is never real. */
const MAX_LENGTH = 2 ** 31 - 1;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** How one declared field may appear on the wire. */
interface FieldRule {
  readonly name: string;
  /** The wire type its declared type is written in. */
  readonly wireType: number;
  /** A repeated scalar: also accepted as one length-delimited run of elements. */
  readonly packable: boolean;
  /**
   * protobufjs reads int32, uint32, sint32, bool and enums with a 32-bit reader that takes five
   * bytes and then skips five more without looking: such a varint must be 1-5 bytes or exactly 10
   * (a negative int32), or the decode would fall out of step with the bytes.
   */
  readonly varint32: boolean;
  /** The nested message, for message fields and map entries. */
  message: MessageRule | undefined;
}

/** The fields of one message type, by field number. */
export interface MessageRule {
  readonly name: string;
  readonly fields: readonly (FieldRule | undefined)[];
}

const VARINT32_TYPES = new Set(['int32', 'uint32', 'sint32', 'bool']);

function scalarRule(name: string, type: string, resolved: protobuf.Type | protobuf.Enum | null, repeated: boolean): FieldRule {
  if (resolved instanceof protobuf.Enum) return { name, wireType: VARINT, packable: repeated, varint32: true, message: undefined };
  const wireType = (protobuf.types.basic as Record<string, number | undefined>)[type];
  if (wireType === undefined) throw new Error(`wire check: field ${name} has type ${type}, which is neither a scalar nor resolved`);
  const packable = repeated && wireType !== LENGTH_DELIMITED;
  return { name, wireType, packable, varint32: VARINT32_TYPES.has(type), message: undefined };
}

/** The rule for a message type (and, once each, every type it holds); recursive types are fine. */
export function messageRule(type: protobuf.Type, known = new Map<protobuf.Type, MessageRule>()): MessageRule {
  const existing = known.get(type);
  if (existing) return existing;
  const fields: (FieldRule | undefined)[] = [];
  const rule: MessageRule = { name: type.fullName.replace(/^\./, ''), fields };
  known.set(type, rule);
  for (const field of type.fieldsArray) {
    field.resolve();
    if (field.delimited) throw new Error(`wire check: ${rule.name}.${field.name} is a group; proto3 has none`);
    if (field instanceof protobuf.MapField) {
      const entry: MessageRule = {
        name: `${rule.name}.${field.name} entry`,
        fields: [undefined, scalarRule('key', field.keyType, null, false), fieldRule('value', field.type, field.resolvedType, false, known)],
      };
      fields[field.id] = { name: field.name, wireType: LENGTH_DELIMITED, packable: false, varint32: false, message: entry };
    } else {
      fields[field.id] = fieldRule(field.name, field.type, field.resolvedType, field.repeated, known);
    }
  }
  return rule;
}

function fieldRule(name: string, type: string, resolved: protobuf.Type | protobuf.Enum | null, repeated: boolean, known: Map<protobuf.Type, MessageRule>): FieldRule {
  if (resolved instanceof protobuf.Type) return { name, wireType: LENGTH_DELIMITED, packable: false, varint32: false, message: messageRule(resolved, known) };
  return scalarRule(name, type, resolved, repeated);
}

/** Throws WireFormatError, naming the message, field and byte offset, unless `bytes` is a well-formed `rule`. */
export function checkWire(rule: MessageRule, bytes: Uint8Array): void {
  new WireWalker(bytes).message(rule, bytes.length, 0);
}

class WireWalker {
  private pos = 0;
  /** Where the walk is, for the error message only: the message and the field being read. */
  private rule: MessageRule | undefined;
  private number = 0;

  constructor(private readonly buf: Uint8Array) {}

  message(rule: MessageRule, end: number, depth: number): void {
    const buf = this.buf;
    this.rule = rule;
    this.number = 0;
    if (depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} deep`);
    while (this.pos < end) {
      const at = this.pos;
      this.rule = rule;
      this.number = 0;
      // One-byte tags and lengths (fields 1-15, under 128 bytes) are most of them: read inline.
      let tag = buf[at]!;
      if (tag < 0x80) this.pos = at + 1;
      else tag = this.uint32(end, 'tag');
      const number = tag >>> 3;
      const wireType = tag & 7;
      if (number === 0) this.fail('field number 0', at);
      this.number = number;
      const field = rule.fields[number];
      if (field !== undefined && wireType !== field.wireType && !(field.packable && wireType === LENGTH_DELIMITED)) {
        this.fail(`wire type ${wireType}, declared ${field.wireType}`, at);
      }
      switch (wireType) {
        case VARINT:
          if (this.pos < end && buf[this.pos]! < 0x80) this.pos++;
          else this.varint(end, field !== undefined && field.varint32);
          break;
        case FIXED64:
          this.fixed(end, 8);
          break;
        case FIXED32:
          this.fixed(end, 4);
          break;
        case LENGTH_DELIMITED: {
          let length = this.pos < end ? buf[this.pos]! : 0x80;
          if (length < 0x80) this.pos++;
          else length = this.uint32(end, 'length');
          if (length > MAX_LENGTH || length > end - this.pos) this.fail(`length ${length} is more than the ${end - this.pos} bytes left`);
          const stop = this.pos + length;
          if (field !== undefined) {
            if (field.message !== undefined) this.message(field.message, stop, depth + 1);
            else if (field.packable) this.packed(field, stop);
          }
          this.pos = stop;
          break;
        }
        default:
          this.fail(`wire type ${wireType} (${wireType === 3 || wireType === 4 ? 'a group' : 'no such type'})`, at);
      }
    }
  }

  /** A varint that protobufjs reads as 32 bits (tags, lengths): at most 5 bytes, under 2^32. */
  private uint32(end: number, what: string): number {
    const at = this.pos;
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= end) this.fail(`${what} cut short`, at);
      const b = buf[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) return value;
    }
    if (this.pos >= end) this.fail(`${what} cut short`, at);
    const last = buf[this.pos++]!;
    if (last >= 0x80) this.fail(`${what} longer than 5 bytes`, at);
    if (last > 0x0f) this.fail(`${what} over 32 bits`, at);
    return value + last * 2 ** 28;
  }

  private varint(end: number, varint32: boolean): void {
    const at = this.pos;
    const buf = this.buf;
    for (;;) {
      if (this.pos >= end) this.fail('varint cut short', at);
      const b = buf[this.pos++]!;
      if (b < 0x80) break;
      if (this.pos - at === 10) this.fail('varint longer than 10 bytes', at);
    }
    const length = this.pos - at;
    if (length === 10 && buf[this.pos - 1]! > 1) this.fail('varint over 64 bits', at);
    if (varint32 && length > 5 && length < 10) this.fail(`${length}-byte varint for a 32-bit field`, at);
  }

  private fixed(end: number, size: number): void {
    if (end - this.pos < size) this.fail(`${size}-byte value cut short`);
    this.pos += size;
  }

  private packed(field: FieldRule, stop: number): void {
    if (field.wireType === VARINT) {
      while (this.pos < stop) this.varint(stop, field.varint32);
    } else {
      const size = field.wireType === FIXED64 ? 8 : 4;
      if ((stop - this.pos) % size !== 0) this.fail(`packed ${size}-byte values in ${stop - this.pos} bytes`);
    }
  }

  private fail(problem: string, at = this.pos): never {
    const rule = this.rule;
    const field = this.number > 0 ? rule?.fields[this.number] : undefined;
    const where = !rule ? 'message' : field ? `${rule.name}.${field.name} (field ${this.number})` : this.number > 0 ? `${rule.name} field ${this.number}` : rule.name;
    throw new WireFormatError(`${where} at byte ${at}: ${problem}`);
  }
}
