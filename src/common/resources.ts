/**
 * Resource math, in one pure module used by master, agent, allocator and SDK.
 *
 * Text form (as Mesos): `cpus:4;mem:8192;disk:10240;ports:[31000-32000]`; a reservation names its
 * role in parentheses: `cpus(analytics):2`. Scalars are fixed-point with three decimals (Mesos does
 * the same), so 0.1 + 0.2 is 0.3 and sums never drift.
 *
 * A `Resources` value is always normalised: one entry per (name, role, dynamic), scalars > 0,
 * ranges sorted, merged and non-empty, entries sorted by name then role. Every function here
 * returns a normalised value and never mutates its arguments.
 */
import { quote } from './echo.js';
import { isValidName } from './names.js';
import {
  findOverlap, formatRanges, intersectRanges, normalizeRanges, rangesContain, subtractRanges, takeLowest,
} from './ranges.js';

export { rangeCount } from './ranges.js';

/** An inclusive range of integers, e.g. ports 31000-32000. */
export interface Range {
  readonly begin: number;
  readonly end: number;
}

/** One named quantity, either a scalar or a set of ranges. */
export interface Resource {
  readonly name: string;
  /** `*` for unreserved resources, otherwise the role they are reserved for. */
  readonly role: string;
  /** True for a reservation made at runtime (RESERVE), false for a static or unreserved one. */
  readonly dynamic: boolean;
  readonly kind: 'scalar' | 'ranges';
  /** Set when kind is 'scalar'. */
  readonly scalar?: number;
  /** Set when kind is 'ranges'. */
  readonly ranges?: readonly Range[];
}

export type Resources = readonly Resource[];

/** No resources: one shared empty list (a Resources value is never changed in place). */
export const EMPTY: Resources = [];

export const UNRESERVED_ROLE = '*';

/** Thrown by `parseResources` for malformed text; `part` is the offending piece. */
export class ResourceParseError extends Error {
  override readonly name = 'ResourceParseError';
  /** The piece of the text that is wrong, e.g. `abc` in `cpus:abc`. */
  readonly part: string;

  constructor(text: string, part: string, problem: string) {
    super(`invalid resources '${text}': ${problem}`);
    this.part = part;
  }
}

/** Why a requested resource does not fit; numbers for scalars, `[b-e,...]` text for ranges. */
export interface Shortfall {
  /** The name, with the role in parentheses when reserved: `cpus`, `cpus(analytics)`. */
  resource: string;
  requested: number | string;
  available: number | string;
}

/** The outcome of `fits`: either everything fits, or one reason per resource that does not. */
export type FitResult = { ok: true } | { ok: false; reasons: Shortfall[] };

/** Thrown by `subtract` when the subtrahend is not contained in the minuend. */
export class InsufficientResourcesError extends Error {
  override readonly name = 'InsufficientResourcesError';
  /** One per resource that is short, as `fits` would report it. */
  readonly shortfalls: Shortfall[];

  constructor(shortfalls: Shortfall[]) {
    const why = shortfalls.map((s) => `${s.resource} requested ${s.requested}, available ${s.available}`);
    super(`insufficient resources: ${why.join('; ')}`);
    this.shortfalls = shortfalls;
  }
}

const DECIMAL = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NOT_FINITE = /^[+-]?(?:inf(?:inity)?|nan)$/i;
const RANGE = /^(\d+)(?:\s*-\s*(\d+))?$/;
/** Scalars are kept as integer thousandths while doing arithmetic. */
const MILLI = 1000;
/**
 * The largest scalar that enters from outside (a billion cpus, or MiB of mem: about a pebibyte):
 * parseResources and the codec refuse more, so that sums of up to 9,000 such values (a framework's
 * holdings, a cluster's totals) stay within MAX_EXACT_SCALAR.
 */
export const MAX_SCALAR = 1_000_000_000;
/** The largest scalar the arithmetic keeps exact: its thousandths are a safe integer. */
const MAX_EXACT_SCALAR = Math.floor(Number.MAX_SAFE_INTEGER / MILLI);
const MAX_PORT = 65535;
/** Entries in one resource list on the wire (a task's, an agent's, a quota's). */
export const MAX_RESOURCE_ENTRIES = 256;
/** Ranges in one entry on the wire. */
export const MAX_RANGES_PER_RESOURCE = 1_024;

const toMilli = (x: number): number => Math.round(x * MILLI);
const maxBound = (name: string): number => (name === 'ports' ? MAX_PORT : Number.MAX_SAFE_INTEGER);
const label = (r: Resource): string => (r.role === UNRESERVED_ROLE ? r.name : `${r.name}(${r.role})`);
const keyOf = (r: Resource): string => `${r.name}\0${r.role}\0${r.dynamic}\0${r.kind}`;

/** A scalar entry; throws RangeError for a bad name or role, or a negative or non-finite value. */
export function scalarResource(name: string, value: number, role = UNRESERVED_ROLE, dynamic = false): Resource {
  return checked({ name, role, dynamic, kind: 'scalar', scalar: value });
}

/** A ranges entry (the list need not be sorted); throws RangeError like `scalarResource`. */
export function rangesResource(name: string, ranges: Range[], role = UNRESERVED_ROLE, dynamic = false): Resource {
  return checked({ name, role, dynamic, kind: 'ranges', ranges: ranges.map((r) => ({ begin: r.begin, end: r.end })) });
}

function checked(r: Resource): Resource {
  const why = resourceProblem(r);
  if (why !== undefined) throw new RangeError(`invalid resource ${label(r)}: ${why}`);
  return r;
}

/**
 * Why `scalarResource`/`rangesResource` (and so `normalize`) would refuse an entry, or undefined
 * when it is valid: a bad name or role, a negative or non-finite scalar, a range out of bounds.
 */
export function resourceProblem(r: Resource): string | undefined {
  if (!isValidName('resource name', r.name)) return `name ${quote(r.name)} is not [a-z][a-z0-9_-]*, at most 64`;
  if (!isValidName('role', r.role)) return `role ${quote(r.role)} is not '*', or [A-Za-z0-9_.-] not starting with '.' or '-', at most 128`;
  if (r.kind === 'scalar') {
    const x = r.scalar;
    if (x === undefined || !Number.isFinite(x) || x < 0 || x > MAX_EXACT_SCALAR) return `scalar ${x} is not in 0..${MAX_EXACT_SCALAR}`;
  } else {
    const max = maxBound(r.name);
    if (r.ranges === undefined) return 'ranges missing';
    const ok = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= max;
    for (const { begin, end } of r.ranges) {
      if (!ok(begin) || !ok(end) || begin > end) return `range ${begin}-${end} is not within 0..${max} with begin <= end`;
    }
  }
  return undefined;
}

const text = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The order of entries in a normalised value: by name, role (`*` first), dynamic (false first),
 * kind; 0 exactly when both have the same (name, role, dynamic, kind).
 */
export function compareResources(x: Resource, y: Resource): number {
  return (
    text(x.name, y.name) ||
    (x.role === y.role ? 0 : x.role === UNRESERVED_ROLE ? -1 : y.role === UNRESERVED_ROLE ? 1 : text(x.role, y.role)) ||
    Number(x.dynamic) - Number(y.dynamic) ||
    text(x.kind, y.kind)
  );
}

/**
 * The normalised form of any list of entries: one entry per (name, role, dynamic, kind), amounts
 * added (ranges by union: a value present twice counts once), scalars rounded to 3 decimals, zero
 * scalars and empty ranges dropped, sorted by name, role (`*` first), dynamic (false first).
 * An unreserved entry is never dynamic: `dynamic` is cleared when role is `*`.
 * Throws RangeError for an entry `scalarResource`/`rangesResource` would refuse.
 */
export function normalize(list: readonly Resource[]): Resources {
  const groups = new Map<string, { first: Resource; milli: number; ranges: Range[] }>();
  for (const entry of list) {
    const r = checked(entry.role === UNRESERVED_ROLE && entry.dynamic ? { ...entry, dynamic: false } : entry);
    const key = keyOf(r);
    const group = groups.get(key) ?? { first: r, milli: 0, ranges: [] };
    groups.set(key, group);
    if (r.kind === 'scalar') group.milli += toMilli(r.scalar ?? 0);
    else group.ranges.push(...(r.ranges ?? []));
  }
  const out: Resource[] = [];
  for (const { first: { name, role, dynamic, kind }, milli, ranges } of groups.values()) {
    if (kind === 'scalar' && milli > 0) out.push({ name, role, dynamic, kind, scalar: milli / MILLI });
    if (kind === 'ranges' && ranges.length > 0) out.push({ name, role, dynamic, kind, ranges: normalizeRanges(ranges) });
  }
  return out.sort(compareResources);
}

/**
 * Parses the Mesos text form, e.g. `cpus:4;mem:8192;ports:[31000-31005,31010-31020]` or
 * `cpus(analytics):2`. Blank text gives []; empty items (`;;`, a trailing `;`) are skipped; a name
 * given twice for the same role is added up, but ranges that overlap (within one item or across
 * items) are refused, as is a name given both as a scalar and as ranges. `[80]` means `[80-80]`.
 * The text form has no syntax for dynamic reservations: everything parses as static.
 * Throws ResourceParseError naming the offending part.
 */
export function parseResources(text: string): Resources {
  const fail = (part: string, problem: string): never => {
    throw new ResourceParseError(text, part, problem);
  };
  const entries: Resource[] = [];
  const kinds = new Map<string, Resource['kind']>();
  for (const raw of text.split(';')) {
    const item = raw.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    if (colon < 0) fail(item, `'${item}' is not NAME:VALUE or NAME(ROLE):VALUE`);
    const head = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    let name = head;
    let role = UNRESERVED_ROLE;
    if (head.includes('(') || head.includes(')')) {
      const open = head.indexOf('(');
      const close = head.indexOf(')');
      if (open < 0 || close !== head.length - 1 || head.lastIndexOf('(') !== open || head.indexOf(')') !== close) {
        fail(head, `'${head}' has malformed role parentheses; expected NAME(ROLE)`);
      }
      name = head.slice(0, open).trim();
      role = head.slice(open + 1, close).trim();
      if (role === '') fail(head, `'${head}' has an empty role`);
      if (!isValidName('role', role)) fail(role, `'${role}' is not a role ('*', or [A-Za-z0-9_.-] not starting with '.' or '-', at most 128)`);
    }
    if (name === '') fail(item, `'${item}' has an empty name`);
    if (!isValidName('resource name', name)) fail(name, `'${name}' is not a resource name ([a-z][a-z0-9_-]*, at most 64)`);
    if (value === '') fail(item, `'${item}' has no value`);
    const kind = value.startsWith('[') ? 'ranges' : 'scalar';
    if ((kinds.get(name) ?? kind) !== kind) fail(item, `'${item}': '${name}' is given both as a scalar and as ranges`);
    kinds.set(name, kind);
    entries.push(
      kind === 'scalar'
        ? scalarResource(name, parseScalar(value, fail), role)
        : rangesResource(name, parseRangeList(name, value, fail), role),
    );
  }
  const rangesByKey = new Map<string, { resource: string; ranges: Range[] }>();
  for (const e of entries.filter((e) => e.kind === 'ranges')) {
    const group = rangesByKey.get(keyOf(e)) ?? { resource: label(e), ranges: [] };
    rangesByKey.set(keyOf(e), group);
    group.ranges.push(...(e.ranges ?? []));
  }
  for (const { resource, ranges } of rangesByKey.values()) {
    const [x, y] = findOverlap(ranges)?.map((r) => `${r.begin}-${r.end}`) ?? [];
    if (x !== undefined && y !== undefined) fail(y, `'${y}' overlaps '${x}' in ${resource}`);
  }
  return normalize(entries);
}

function parseScalar(value: string, fail: (part: string, problem: string) => never): number {
  if (NOT_FINITE.test(value)) fail(value, `'${value}' is not a finite number`);
  if (value.startsWith('-') && DECIMAL.test(value.slice(1))) fail(value, `'${value}' is negative`);
  if (!DECIMAL.test(value)) fail(value, `'${value}' is not a number`);
  const x = Number(value);
  if (!Number.isFinite(x)) fail(value, `'${value}' is not a finite number`);
  if (x > MAX_SCALAR) fail(value, `'${value}' is too large (at most ${MAX_SCALAR})`);
  return x;
}

function parseRangeList(name: string, value: string, fail: (part: string, problem: string) => never): Range[] {
  if (!value.endsWith(']') || value.indexOf(']') !== value.length - 1 || value.lastIndexOf('[') !== 0) {
    fail(value, `'${value}' is not a range list [BEGIN-END,...]`);
  }
  const inner = value.slice(1, -1).trim();
  if (inner === '') return [];
  const max = maxBound(name);
  return inner.split(',').map((raw) => {
    const item = raw.trim();
    if (item === '') fail(value, `'${value}' has an empty range`);
    const match = RANGE.exec(item) ?? fail(item, `'${item}' is not a range BEGIN-END of non-negative integers`);
    const [begin, end] = [Number(match[1]), Number(match[2] ?? match[1])];
    for (const n of [begin, end]) {
      if (!Number.isSafeInteger(n) || n > max) fail(item, `'${item}' is out of range for ${name} (0-${max})`);
    }
    if (begin > end) fail(item, `'${item}' is a bad range: begin is greater than end`);
    return { begin, end };
  });
}

/**
 * The text form, e.g. `cpus:4;mem:8192;ports:[31000-32000]`, normalised first; [] gives ''.
 * Scalars print with at most 3 decimals and no trailing zeros. Dynamic reservations print like
 * static ones, so parsing the text back only returns the input when nothing is dynamic.
 */
export function formatResources(r: Resources): string {
  const value = (e: Resource) => (e.kind === 'scalar' ? String(e.scalar) : formatRanges(e.ranges ?? []));
  return normalize(r)
    .map((e) => `${label(e)}:${value(e)}`)
    .join(';');
}

/** The sum: scalars added, ranges united (a value present in both counts once). */
export function add(a: Resources, b: Resources): Resources {
  return normalize([...a, ...b]);
}

/** One shortfall per entry of `requested` not covered by the same (name, role, dynamic) entry. */
function shortfalls(requested: Resources, available: Resources): Shortfall[] {
  const byKey = new Map(normalize(available).map((r) => [keyOf(r), r]));
  const out: Shortfall[] = [];
  for (const want of normalize(requested)) {
    const have = byKey.get(keyOf(want));
    if (want.kind === 'scalar') {
      const [w, h] = [want.scalar ?? 0, have?.scalar ?? 0];
      if (toMilli(w) > toMilli(h)) out.push({ resource: label(want), requested: w, available: h });
    } else if (!rangesContain(have?.ranges ?? [], want.ranges ?? [])) {
      const [w, h] = [formatRanges(want.ranges ?? []), formatRanges(have?.ranges ?? [])];
      out.push({ resource: label(want), requested: w, available: h });
    }
  }
  return out;
}

/**
 * Whether `requested` can be taken from `available`: each requested entry needs an available
 * entry of the same name, role and dynamic flag holding at least as much (scalars) or all of its
 * values (ranges). A reservation never serves an unreserved request, nor the reverse. Agrees
 * exactly with `contains`: `fits(x, y).ok === contains(y, x)`.
 */
export function fits(requested: Resources, available: Resources): FitResult {
  const reasons = shortfalls(requested, available);
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}

/** True when every entry of `b` is covered by `a`, under the matching rules of `fits`. */
export function contains(a: Resources, b: Resources): boolean {
  return shortfalls(b, a).length === 0;
}

/**
 * `a` minus `b`. Throws InsufficientResourcesError (listing what is short) unless `contains(a, b)`,
 * so the result is never negative; what `b` uses up entirely disappears from the result.
 */
export function subtract(a: Resources, b: Resources): Resources {
  const missing = shortfalls(b, a);
  if (missing.length > 0) throw new InsufficientResourcesError(missing);
  const byKey = new Map(normalize(b).map((r) => [keyOf(r), r]));
  return normalize(
    normalize(a).map((have): Resource => {
      const take = byKey.get(keyOf(have));
      if (take === undefined) return have;
      return have.kind === 'scalar'
        ? { ...have, scalar: (toMilli(have.scalar ?? 0) - toMilli(take.scalar ?? 0)) / MILLI }
        : { ...have, ranges: subtractRanges(have.ranges ?? [], take.ranges ?? []) };
    }),
  );
}

const matching = (r: Resources, kind: Resource['kind'], name: string, role?: string): Resource[] =>
  r.filter((e) => e.kind === kind && e.name === name && (role === undefined || e.role === role));

/** The total of scalar `name`, of one role or, when role is omitted, of all; 0 when absent. */
export function scalar(r: Resources, name: string, role?: string): number {
  return matching(r, 'scalar', name, role).reduce((milli, e) => milli + toMilli(e.scalar ?? 0), 0) / MILLI;
}

/** The merged ranges of `name`, of one role or, when role is omitted, of all; [] when absent. */
export function rangesOf(r: Resources, name: string, role?: string): Range[] {
  return normalizeRanges(matching(r, 'ranges', name, role).flatMap((e) => e.ranges ?? []));
}

/** True when there is nothing (an unnormalised list of zero scalars is empty too). */
export function isEmpty(r: Resources): boolean {
  return normalize(r).length === 0;
}

/** What a framework in `role` may use: the unreserved entries plus those reserved for `role`. */
export function forRole(r: Resources, role: string): Resources {
  return normalize(r.filter((e) => e.role === UNRESERVED_ROLE || e.role === role));
}

/** Only the entries reserved for `role` (static and dynamic); `*` gives the unreserved ones. */
export function reservedFor(r: Resources, role: string): Resources {
  return normalize(r.filter((e) => e.role === role));
}

/** Only the unreserved entries. */
export function unreserved(r: Resources): Resources {
  return reservedFor(r, UNRESERVED_ROLE);
}

/**
 * The same quantities re-labelled as reserved to `role`, dynamically or not; entries of different
 * roles merge. `*` un-reserves (and is never dynamic). Throws RangeError for an invalid role.
 */
export function withRole(r: Resources, role: string, dynamic = false): Resources {
  return normalize(r.map((e) => ({ ...e, role, dynamic })));
}

/**
 * Picks `count` ports, lowest first, from the `ports` entries usable by `role` (unreserved plus
 * reserved for it) or, when role is omitted, from all; undefined when there are fewer. The result
 * may mix ports of several entries: `pickRanges` turns it back into correctly labelled resources.
 */
export function takePorts(available: Resources, count: number, role?: string): Range[] | undefined {
  return takeLowest(rangesOf(role === undefined ? available : forRole(available, role), 'ports'), count);
}

/**
 * The part of `available` (restricted to what `role` may use, when given) that holds exactly the
 * values `ranges` of `name`, each piece keeping its entry's role and dynamic flag, so that
 * `fits(result, available)` holds; undefined when some value is not there. Unreserved entries are
 * drawn on first, so a value that is (inconsistently) in several entries is taken once.
 */
export function pickRanges(available: Resources, name: string, ranges: readonly Range[], role?: string): Resources | undefined {
  const pool = matching(role === undefined ? normalize(available) : forRole(available, role), 'ranges', name);
  let left = normalizeRanges(ranges);
  const picked: Resource[] = [];
  for (const e of pool) {
    const part = intersectRanges(e.ranges ?? [], left);
    if (part.length > 0) picked.push({ ...e, ranges: part });
    left = subtractRanges(left, part);
  }
  return left.length === 0 ? normalize(picked) : undefined;
}

/** True when both hold the same entries, whatever order or shape they were built in. */
export function equals(a: Resources, b: Resources): boolean {
  const [x, y] = [normalize(a), normalize(b)];
  return x.length === y.length && x.every((e, i) => {
    const f = y[i];
    return f !== undefined && keyOf(e) === keyOf(f) && e.scalar === f.scalar &&
      formatRanges(e.ranges ?? []) === formatRanges(f.ranges ?? []);
  });
}
