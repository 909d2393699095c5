/**
 * Decoders for the small parts every message shares: resources, attributes, labels, durations
 * and required fields. Each checks what it decodes (names.ts for names, the bounds of each
 * number) and throws InvalidArgumentError naming the field; none falls back to a default for a
 * value it does not understand.
 */
import type { Attribute as AttributeMsg, Attribute__Output } from '../gen/orbit/v1/Attribute.js';
import type { Label as LabelMsg, Label__Output } from '../gen/orbit/v1/Label.js';
import type { Resource as ResourceMsg, Resource__Output } from '../gen/orbit/v1/Resource.js';
import { MAX_ATTRIBUTES, type Attributes } from './attributes.js';
import { resourceKindFromProto } from './enum-codec.js';
import { InvalidArgumentError } from './errors.js';
import { checkName } from './names.js';
import {
  MAX_RANGES_PER_RESOURCE,
  MAX_RESOURCE_ENTRIES,
  MAX_SCALAR,
  normalize,
  resourceProblem,
  UNRESERVED_ROLE,
  type Resource,
  type Resources,
} from './resources.js';
import { MAX_LABELS, STATUS_TIMESTAMP_MS, within, type Bounds } from './task-limits.js';

/** A message field that must be present; names it when it is not. */
export function required<T>(value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) throw new InvalidArgumentError(field, 'is required');
  return value;
}

/** A repeated field of at most `max` items; names the field and the cap when over. */
export function capped<T>(list: readonly T[], max: number, field: string): readonly T[] {
  if (list.length > max) throw new InvalidArgumentError(field, `has ${list.length} items; at most ${max} are accepted`);
  return list;
}

/**
 * Seconds on the wire as whole milliseconds, refused unless within `bounds` (in ms). NaN, ±Inf and
 * values past the bounds are errors, never clamped: a timer given them would fire at once.
 */
export function secondsToMs(seconds: number, bounds: Bounds, field: string): number {
  if (!(Number.isFinite(seconds) && seconds * 1000 >= bounds.min && seconds * 1000 <= bounds.max)) {
    throw new InvalidArgumentError(field, `must be ${bounds.min / 1000} to ${bounds.max / 1000} seconds, got ${seconds}`);
  }
  // + 0 turns -0 into 0.
  return Math.round(seconds * 1000) + 0;
}

/**
 * An optional point in time on the wire (seconds since the epoch; 0 means not set) as whole
 * milliseconds, for facts a receiver shows rather than acts on (when a task started): a value
 * that is not a finite time within STATUS_TIMESTAMP_MS is left out, with a problem naming the
 * field pushed to `problems`, instead of refusing the whole message.
 */
export function optionalTimeMs(seconds: number, field: string, problems: string[]): number | undefined {
  if (seconds === 0) return undefined;
  const ms = seconds * 1000;
  if (Number.isFinite(ms) && within(ms, STATUS_TIMESTAMP_MS)) return Math.round(ms);
  problems.push(`${field}: ${seconds} is not a time (seconds since the epoch); left out`);
  return undefined;
}

/** An integer within `bounds`; names the field when not. */
export function integerWithin(value: number, bounds: Bounds, field: string): number {
  if (!(Number.isInteger(value) && value >= bounds.min && value <= bounds.max)) {
    throw new InvalidArgumentError(field, `must be an integer from ${bounds.min} to ${bounds.max}, got ${value}`);
  }
  return value;
}

// ---- resources --------------------------------------------------------------------------------

export function resourcesToProto(resources: Resources): ResourceMsg[] {
  return resources.map((r) => ({
    name: r.name,
    type: r.kind === 'scalar' ? 'SCALAR' : 'RANGES',
    scalar: r.scalar ?? 0,
    ranges: (r.ranges ?? []).map((x) => ({ begin: String(x.begin), end: String(x.end) })),
    role: r.role,
    dynamic: r.dynamic,
  }));
}

/**
 * Decodes and normalises (ranges merged, like names added up): a bad name or role, a negative,
 * non-finite or too large scalar, a range out of bounds or inverted, or too many entries or
 * ranges is named by its field. Overlap within one task is judged before this, on the raw list.
 */
export function resourcesFromProto(list: readonly Resource__Output[], field: string): Resources {
  capped(list, MAX_RESOURCE_ENTRIES, field);
  const out: Resource[] = list.map((m, i) => {
    const at = `${field}[${i}]`;
    const name = checkName('resource name', m.name, `${at}.name`);
    const role = m.role === '' ? UNRESERVED_ROLE : checkName('role', m.role, `${at}.role`);
    const kind = resourceKindFromProto(m.type, `${at}.type`, name);
    if (kind === 'scalar') {
      if (!(Number.isFinite(m.scalar) && m.scalar >= 0 && m.scalar <= MAX_SCALAR)) {
        throw new InvalidArgumentError(`${at}.scalar`, `${name} must be a number from 0 to ${MAX_SCALAR}, got ${m.scalar}`);
      }
      return { name, role, dynamic: m.dynamic, kind, scalar: m.scalar };
    }
    const ranges = capped(m.ranges, MAX_RANGES_PER_RESOURCE, `${at}.ranges`).map((r) => ({ begin: Number(r.begin), end: Number(r.end) }));
    const entry: Resource = { name, role, dynamic: m.dynamic, kind, ranges };
    const problem = resourceProblem(entry);
    if (problem !== undefined) throw new InvalidArgumentError(`${at}.ranges`, problem);
    return entry;
  });
  const merged = normalize(out);
  // Entries of one name and role add up; their total is held to the same cap as each.
  const over = merged.find((r) => (r.scalar ?? 0) > MAX_SCALAR);
  if (over) throw new InvalidArgumentError(field, `${over.name}${over.role === UNRESERVED_ROLE ? '' : `(${over.role})`} adds up to ${over.scalar}; at most ${MAX_SCALAR}`);
  return merged;
}

// ---- attributes and labels --------------------------------------------------------------------

export function attributesToProto(attributes: Attributes): AttributeMsg[] {
  return attributes.map((a) => ({ name: a.name, value: a.value }));
}

/** Decodes an agent's attributes; names are unique. */
export function attributesFromProto(list: readonly Attribute__Output[], field = 'attributes'): Attributes {
  capped(list, MAX_ATTRIBUTES, field);
  const seen = new Set<string>();
  return list.map((a, i) => {
    const name = checkName('attribute name', a.name, `${field}[${i}].name`);
    if (seen.has(name)) throw new InvalidArgumentError(`${field}[${i}].name`, `attribute '${name}' is given twice`);
    seen.add(name);
    return { name, value: checkName('attribute value', a.value, `${field}[${i}].value`) };
  });
}

export function labelsToProto(labels: Record<string, string>): LabelMsg[] {
  return Object.entries(labels).map(([key, value]) => ({ key, value }));
}

/** Decodes labels; keys are unique. */
export function labelsFromProto(list: readonly Label__Output[], field = 'labels'): Record<string, string> {
  capped(list, MAX_LABELS, field);
  const seen = new Set<string>();
  // fromEntries, not assignment: a key such as `__proto__` must become a label like any other.
  return Object.fromEntries(list.map((l, i) => {
    const key = checkName('label key', l.key, `${field}[${i}].key`);
    if (seen.has(key)) throw new InvalidArgumentError(`${field}[${i}].key`, `label '${key}' is given twice`);
    seen.add(key);
    return [key, checkName('label value', l.value, `${field}[${i}].value`)];
  }));
}
