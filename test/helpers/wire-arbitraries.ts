/**
 * fast-check arbitraries for any orbit.v1 message, built from the .proto files by reflection:
 * well-typed (each field gets a value of its wire type, so grpc-js serializes it) but extreme —
 * hostile and huge strings, NaN, ±Inf, -0 and 1e308 doubles, negative and huge integers, enum
 * numbers no build knows, long repeated fields. Every request message of every service can be
 * made from one definition, and a new field is fuzzed as soon as it is in the proto.
 */
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';

/** Every orbit.v1 type, as protobufjs reflects it (field names camelCase, as the loader gives them). */
export const protoRoot = new protobuf.Root();
const root = protoRoot;
root.resolvePath = (_origin, target) => fileURLToPath(new URL(`../../proto/${target}`, import.meta.url));
root.loadSync(['orbit/v1/common.proto', 'orbit/v1/agent.proto', 'orbit/v1/scheduler.proto', 'orbit/v1/operator.proto'], { keepCase: false });
root.resolveAll();

/** `message` encoded as a `name` and decoded as grpc-js' loader decodes it (enums as names, longs as strings). */
export function overTheWire<T>(name: string, message: unknown): T {
  const type = root.lookupType(name);
  return type.toObject(type.decode(type.encode(type.fromObject(message as Record<string, unknown>)).finish()), { longs: String, enums: String, defaults: true, oneofs: true }) as T;
}

/** A string of about `bytes` bytes, made once and shared: building megabytes per run costs too much. */
const huge = (bytes: number): string => 'h'.repeat(bytes);
const HUGE_STRINGS = [huge(64 * 1024), huge(1024 * 1024)];

const ordinaryStrings: fc.Arbitrary<string>[] = [
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '*', '.', '..', '../../etc', '/etc/passwd', 'a\\b', 'a\0b', '\0', '\u001b[2J', 'a\r\nX-Injected: 1', '\u2028', '💥'.repeat(40), 'x'.repeat(10_240)),
];
/** Strings of every kind but the huge ones (inside a long repeated field, which copies them). */
const leanString: fc.Arbitrary<string> = fc.oneof(...ordinaryStrings.map((arbitrary, i) => ({ weight: [6, 4, 2, 2, 3][i]!, arbitrary })));
export const hostileString: fc.Arbitrary<string> = fc.oneof({ weight: 17, arbitrary: leanString }, { weight: 1, arbitrary: fc.constantFrom(...HUGE_STRINGS) });

export const extremeDouble: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 1e308, -1e308, 5e-324, 1e300, 0.001, 1, 3_600, 86_400, 31_536_000, 2 ** 31, 2 ** 53) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 100, noNaN: true }) },
);

const INT32 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)));
const UINT32 = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 1, 80, 65_535, 65_536, 2 ** 32 - 1), fc.integer({ min: 0, max: 70_000 }));
const UINT64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String), fc.constantFrom('0', '1', '31000', '65535', '9007199254740993', '18446744073709551615'));
const INT64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);

function scalar(type: string, lean: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case 'string':
      return lean ? leanString : hostileString;
    case 'double':
    case 'float':
      return extremeDouble;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return INT32;
    case 'uint32':
    case 'fixed32':
      return UINT32;
    case 'uint64':
    case 'fixed64':
      return UINT64;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return INT64;
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return (lean ? fc.uint8Array({ maxLength: 64 }) : fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(100_000)))).map((b) => Buffer.from(b));
    default:
      throw new Error(`no arbitrary for field type ${type}`);
  }
}

function enumValue(e: protobuf.Enum): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...Object.keys(e.values)) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5_000 }) });
}

const cache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

function fieldValue(field: protobuf.Field, depth: number, lean: boolean): fc.Arbitrary<unknown> {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return enumValue(resolved);
  if (resolved instanceof protobuf.Type) return messageOf(resolved, depth + 1, lean);
  return scalar(field.type, lean);
}

function repeatedOf(field: protobuf.Field, depth: number, lean: boolean): fc.Arbitrary<unknown[]> {
  const isMessage = field.resolvedType instanceof protobuf.Type;
  const short = fc.array(fieldValue(field, depth, lean), { maxLength: isMessage ? 4 : 6 });
  if (lean) return short;
  // Long repeated fields: many copies of one lean element (cheap to make, as costly to decode).
  // Lean: no huge string and no long field inside, or one message would be gigabytes.
  const long = fc.tuple(fieldValue(field, depth, true), fc.integer({ min: isMessage ? 100 : 1_000, max: isMessage ? 3_000 : 20_000 })).map(([e, n]) => Array.from({ length: n }, () => e));
  return fc.oneof({ weight: 12, arbitrary: short }, { weight: 1, arbitrary: long });
}

/**
 * An arbitrary message of `type`; nesting past depth 4 leaves message fields out. A `lean` one
 * (an element of a long repeated field) holds no huge string and no long repeated field.
 */
export function messageOf(type: protobuf.Type, depth = 0, lean = false): fc.Arbitrary<Record<string, unknown>> {
  const key = `${type.fullName}@${depth}${lean ? ':lean' : ''}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  const optional: string[] = [];
  const oneofs: { names: string[] }[] = [];
  for (const oneof of type.oneofsArray) {
    // proto3 `optional` is a synthetic oneof of one field: present or absent.
    if (oneof.fieldsArray.length === 1) optional.push(oneof.fieldsArray[0]!.name);
    else oneofs.push({ names: oneof.fieldsArray.map((f) => f.name) });
  }
  const inOneof = new Set(oneofs.flatMap((o) => o.names));
  for (const field of type.fieldsArray) {
    if (inOneof.has(field.name)) continue;
    if (depth > 4 && field.resolvedType instanceof protobuf.Type) continue;
    parts[field.name] = field.repeated ? repeatedOf(field, depth, lean) : fieldValue(field, depth, lean);
  }
  const base = fc.record(parts, { requiredKeys: Object.keys(parts).filter((k) => !optional.includes(k)) });
  const chosen = oneofs.map((o) => {
    const options = o.names.filter((n) => depth <= 4 || !(type.fields[n]!.resolvedType instanceof protobuf.Type));
    if (options.length === 0) return fc.constant({});
    return fc.oneof(fc.constant({}), ...options.map((n) => fieldValue(type.fields[n]!, depth, lean).map((v) => ({ [n]: v }))));
  });
  const arb = fc.tuple(base, ...chosen).map(([b, ...picks]) => Object.assign({}, b, ...picks) as Record<string, unknown>);
  cache.set(key, arb);
  return arb;
}

/** The size of `message` as a `name` on the wire, in bytes. */
export function encodedSize(name: string, message: Record<string, unknown>): number {
  const type = root.lookupType(name);
  return type.encode(type.fromObject(message)).finish().length;
}

/** An arbitrary message by its full name, e.g. `orbit.v1.AcceptCall`. */
export function wireMessage(name: string): fc.Arbitrary<Record<string, unknown>> {
  return messageOf(root.lookupType(name));
}

/** The request message name of every method of a service, e.g. Operator → GetTasks → orbit.v1.GetTasksRequest. */
export function requestTypes(service: string): Map<string, string> {
  const s = root.lookupService(`orbit.v1.${service}`);
  return new Map(s.methodsArray.map((m) => [m.name, m.resolvedRequestType!.fullName.replace(/^\./, '')]));
}
