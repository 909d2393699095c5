/**
 * Set arithmetic on integers written as inclusive ranges (ports), for resources.ts.
 *
 * A "range set" is sorted by begin, with no two ranges overlapping or adjacent (1-3 and 4-6 are one
 * range, 1-6). Functions documented as taking range sets rely on that shape; `normalizeRanges`
 * makes it from any list. No function mutates its arguments.
 */
import type { Range } from './resources.js';

/** Sorts and merges overlapping or adjacent ranges; the input may be in any order. */
export function normalizeRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => x.begin - y.begin || x.end - y.end);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.begin <= last.end + 1) {
      if (r.end > last.end) out[out.length - 1] = { begin: last.begin, end: r.end };
    } else {
      out.push({ begin: r.begin, end: r.end });
    }
  }
  return out;
}

/**
 * Two ranges of the list that share a value, the earlier-beginning one first, or undefined when
 * none do; adjacency (1-3, 4-6) is not overlap. The input may be in any order.
 */
export function findOverlap<R extends Range>(ranges: readonly R[]): [R, R] | undefined {
  const sorted = [...ranges].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let widest: R | undefined;
  for (const r of sorted) {
    if (widest !== undefined && r.begin <= widest.end) return [widest, r];
    if (widest === undefined || r.end > widest.end) widest = r;
  }
  return undefined;
}

/** The values of range set `a` that are not in range set `b`. */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let first = 0; // b ranges before `first` end before every remaining range of a
  for (const r of a) {
    while ((b[first]?.end ?? Infinity) < r.begin) first++;
    let begin = r.begin;
    for (let k = first; begin <= r.end; k++) {
      const cut = b[k];
      if (cut === undefined || cut.begin > r.end) break;
      if (cut.begin > begin) out.push({ begin, end: cut.begin - 1 });
      begin = Math.max(begin, cut.end + 1);
    }
    if (begin <= r.end) out.push({ begin, end: r.end });
  }
  return out;
}

/** The values in both range sets. */
export function intersectRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  return subtractRanges(a, subtractRanges(a, b));
}

/** True when every value of range set `b` is in range set `a`; true for an empty `b`. */
export function rangesContain(a: readonly Range[], b: readonly Range[]): boolean {
  return subtractRanges(b, a).length === 0;
}

/** How many distinct integers the ranges hold; overlapping input is counted once. */
export function rangeCount(ranges: readonly Range[]): number {
  return normalizeRanges(ranges).reduce((n, r) => n + r.end - r.begin + 1, 0);
}

/**
 * The lowest `count` values of range set `ranges`, as a range set, or undefined when it holds
 * fewer; 0 gives []. Throws RangeError unless count is a non-negative safe integer.
 */
export function takeLowest(ranges: readonly Range[], count: number): Range[] | undefined {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`cannot take ${count} values: count must be a non-negative integer`);
  }
  const out: Range[] = [];
  let left = count;
  for (const r of ranges) {
    if (left === 0) break;
    const end = Math.min(r.end, r.begin + left - 1);
    out.push({ begin: r.begin, end });
    left -= end - r.begin + 1;
  }
  return left === 0 ? out : undefined;
}

/** Text form of a range list, as in resources: `[31000-31005,31010-31020]`; [] gives `[]`. */
export function formatRanges(ranges: readonly Range[]): string {
  return `[${ranges.map((r) => `${r.begin}-${r.end}`).join(',')}]`;
}
