/**
 * Resource arithmetic on values that are already normalised, for the allocator's hot paths.
 *
 * `add`, `subtract` and `contains` in resources.ts accept any list and normalise it first (group by
 * key, validate, sort) on every call. Inside the allocator every list is normalised already, so the
 * same results come from one linear merge over both lists (they are sorted by the same order),
 * without re-validating, re-sorting or copying entries that do not change.
 *
 * Every function here requires normalised arguments (as returned by `normalize` or any function of
 * resources.ts) and then returns exactly what its counterpart in resources.ts returns (equal entries,
 * in the same order); with other arguments the result is unspecified. Results may share entries, or
 * be one of the arguments itself: Resources values are never mutated.
 */
import { normalizeRanges } from './ranges.js';
import { compareResources, normalize, resourceProblem, type Range, type Resource, type Resources, UNRESERVED_ROLE } from './resources.js';
import type { Scalars } from './scalars.js';

const MILLI = 1000;
const toMilli = (x: number): number => Math.round(x * MILLI);

/**
 * `normalize(list)`, but `list` itself when it is normalised already, which one pass without
 * grouping or sorting can tell: the way into the allocator's books for values that usually are.
 * Throws RangeError like `normalize` for an invalid entry.
 */
export function asNormalized(list: readonly Resource[]): Resources {
  return isNormalized(list) ? list : normalize(list);
}

/** True when `normalize(list)` would return equal entries in the same order. */
function isNormalized(list: readonly Resource[]): boolean {
  let previous: Resource | undefined;
  for (const e of list) {
    if (typeof e.dynamic !== 'boolean' || (e.dynamic && e.role === UNRESERVED_ROLE)) return false;
    if (e.kind === 'scalar') {
      const x = e.scalar;
      if (e.ranges !== undefined || x === undefined || !(x > 0) || toMilli(x) / MILLI !== x) return false;
    } else if (e.kind === 'ranges') {
      if (e.scalar !== undefined || e.ranges === undefined || e.ranges.length === 0) return false;
      let end = -2;
      for (const r of e.ranges) {
        if (!(r.begin > end + 1)) return false; // unsorted, overlapping or adjacent
        end = r.end;
      }
    } else {
      return false;
    }
    if (previous !== undefined && compareResources(previous, e) >= 0) return false;
    if (resourceProblem(e) !== undefined) return false; // normalize says what is wrong
    previous = e;
  }
  return true;
}

/** The union of two range sets (sorted, merged), as `normalizeRanges([...a, ...b])`. */
export function unionRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  if (a.length === 0 || b.length === 0) return normalizeRanges(a.length === 0 ? b : a);
  const out: Range[] = [];
  let i = 0;
  let j = 0;
  let begin = 0;
  let end = -2;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    let r: Range;
    if (y === undefined || (x !== undefined && (x.begin < y.begin || (x.begin === y.begin && x.end <= y.end)))) {
      r = x!;
      i++;
    } else {
      r = y;
      j++;
    }
    if (end >= begin && r.begin <= end + 1) {
      if (r.end > end) end = r.end;
    } else {
      if (end >= begin) out.push({ begin, end });
      begin = r.begin;
      end = r.end;
    }
  }
  if (end >= begin) out.push({ begin, end });
  return out;
}

/** `add(a, b)` for normalised `a` and `b`: one merge, entries of one side only reused as they are. */
export function addNormalized(a: Resources, b: Resources): Resources {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Resource[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const order = compareResources(x, y);
    if (order < 0) {
      out.push(x);
      i++;
    } else if (order > 0) {
      out.push(y);
      j++;
    } else {
      const { name, role, dynamic, kind } = x;
      if (kind === 'scalar') {
        const milli = toMilli(x.scalar ?? 0) + toMilli(y.scalar ?? 0);
        if (milli > 0) out.push({ name, role, dynamic, kind, scalar: milli / MILLI });
      } else {
        out.push({ name, role, dynamic, kind, ranges: unionRanges(x.ranges ?? [], y.ranges ?? []) });
      }
      i++;
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * `subtract(a, b)` for normalised `a` and `b`, or undefined when `a` does not contain `b` (where
 * `subtract` throws: call it to get the error with its shortfalls).
 */
export function subtractNormalized(a: Resources, b: Resources): Resources | undefined {
  if (b.length === 0) return a;
  const out: Resource[] = [];
  let i = 0;
  for (const y of b) {
    let x = a[i];
    let order = x === undefined ? 1 : compareResources(x, y);
    while (order < 0) {
      out.push(x!);
      x = a[++i];
      order = x === undefined ? 1 : compareResources(x, y);
    }
    if (order > 0 || x === undefined) return undefined; // nothing in `a` holds this entry of `b`
    const { name, role, dynamic, kind } = x;
    if (kind === 'scalar') {
      const milli = toMilli(x.scalar ?? 0) - toMilli(y.scalar ?? 0);
      if (milli < 0) return undefined;
      if (milli > 0) out.push({ name, role, dynamic, kind, scalar: milli / MILLI });
    } else {
      const left = cutRanges(x.ranges ?? [], y.ranges ?? []);
      if (left === undefined) return undefined;
      if (left.length > 0) out.push({ name, role, dynamic, kind, ranges: left });
    }
    i++;
  }
  while (i < a.length) out.push(a[i++]!);
  return out;
}

/** `contains(a, b)` for normalised `a` and `b`. */
export function containsNormalized(a: Resources, b: Resources): boolean {
  if (a === b || b.length === 0) return true;
  let i = 0;
  for (const y of b) {
    let x = a[i];
    let order = x === undefined ? 1 : sameKey(x, y) ? 0 : compareResources(x, y);
    while (order < 0) {
      x = a[++i];
      order = x === undefined ? 1 : compareResources(x, y);
    }
    if (order > 0 || x === undefined) return false;
    if (x.kind === 'scalar') {
      if (toMilli(y.scalar ?? 0) > toMilli(x.scalar ?? 0)) return false;
    } else if (!rangesCover(x.ranges ?? [], y.ranges ?? [])) {
      return false;
    }
    i++;
  }
  return true;
}

/**
 * `formatResources(a) === formatResources(b)` for normalised `a` and `b`, without building the
 * text: the same entries in the same order, except that the dynamic flag is not compared (the text
 * form does not show it).
 */
export function sameTextForm(a: Resources, b: Resources): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.role !== y.role || x.kind !== y.kind) return false;
    if (x.kind === 'scalar') {
      if (x.scalar !== y.scalar) return false;
    } else {
      const p = x.ranges ?? [];
      const q = y.ranges ?? [];
      if (p.length !== q.length) return false;
      for (let k = 0; k < p.length; k++) if (p[k]!.begin !== q[k]!.begin || p[k]!.end !== q[k]!.end) return false;
    }
  }
  return true;
}

/** A shortcut for `compareResources(x, y) === 0`, the usual case when the lists hold the same kinds. */
const sameKey = (x: Resource, y: Resource): boolean =>
  x.name === y.name && x.role === y.role && x.dynamic === y.dynamic && x.kind === y.kind;

/** `forRole(r, role)` for normalised `r`: `r` itself when every entry is usable by the role. */
export function forRoleNormalized(r: Resources, role: string): Resources {
  let kept = 0;
  for (const e of r) if (e.role === UNRESERVED_ROLE || e.role === role) kept++;
  return kept === r.length ? r : r.filter((e) => e.role === UNRESERVED_ROLE || e.role === role);
}

/** `unreserved(r)` for normalised `r`: `r` itself when nothing is reserved. */
export function unreservedNormalized(r: Resources): Resources {
  let kept = 0;
  for (const e of r) if (e.role === UNRESERVED_ROLE) kept++;
  return kept === r.length ? r : r.filter((e) => e.role === UNRESERVED_ROLE);
}

/** `toScalars(unreserved(r))` for normalised `r`, without the intermediate list. */
export function unreservedScalars(r: Resources): Scalars {
  const out: Scalars = {};
  // A normalised list has one unreserved entry per scalar name, so there is nothing to add up.
  for (const e of r) if (e.kind === 'scalar' && e.role === UNRESERVED_ROLE) out[e.name] = e.scalar ?? 0;
  return out;
}

/**
 * Range set `a` without range set `b`, or undefined when some value of `b` is not in `a` (then
 * `rangesContain(a, b)` is false); otherwise equal to `subtractRanges(a, b)`.
 */
function cutRanges(a: readonly Range[], b: readonly Range[]): Range[] | undefined {
  const out: Range[] = [];
  let i = 0;
  let begin = a[0]?.begin ?? 0; // the part of a[i] not yet passed
  for (const cut of b) {
    // Move to the range of `a` that must hold all of `cut`.
    while (i < a.length && a[i]!.end < cut.begin) {
      out.push({ begin, end: a[i]!.end });
      i++;
      begin = a[i]?.begin ?? 0;
    }
    const r = a[i];
    if (r === undefined || cut.begin < begin || cut.end > r.end) return undefined;
    if (cut.begin > begin) out.push({ begin, end: cut.begin - 1 });
    begin = cut.end + 1;
    if (begin > r.end) {
      i++;
      begin = a[i]?.begin ?? 0;
    }
  }
  if (i < a.length) {
    out.push({ begin, end: a[i]!.end });
    for (i++; i < a.length; i++) out.push(a[i]!);
  }
  return out;
}

/** `rangesContain(a, b)` for range sets, allocating nothing: every range of `b` lies inside one of `a`. */
function rangesCover(a: readonly Range[], b: readonly Range[]): boolean {
  let i = 0;
  for (const r of b) {
    while (i < a.length && a[i]!.end < r.begin) i++;
    const outer = a[i];
    if (outer === undefined || outer.begin > r.begin || outer.end < r.end) return false;
  }
  return true;
}
