/**
 * Scalar quantities as plain numbers per kind (`{cpus: 2, mem: 1024}`), for the allocator's hot
 * paths: shares, quota and headroom are arithmetic on these, not on Resources lists. Roles are
 * ignored (a quantity is a quantity); ranges are not scalars and are left out.
 */
import { scalarResource, type Resources } from './resources.js';

export type Scalars = Record<string, number>;

/** Kinds that count towards a dominant share. */
export const SHARE_KINDS = ['cpus', 'mem', 'disk', 'gpus'] as const;

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** Sums every scalar of a Resources value by name. */
export function toScalars(resources: Resources): Scalars {
  const out: Scalars = {};
  for (const r of resources) if (r.kind === 'scalar') out[r.name] = round((out[r.name] ?? 0) + (r.scalar ?? 0));
  return out;
}

/** a + b, kind by kind. */
export function addScalars(a: Scalars, b: Scalars): Scalars {
  const out: Scalars = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = round((out[k] ?? 0) + v);
  return out;
}

/** a - b, kind by kind, never below zero. */
export function subtractScalars(a: Scalars, b: Scalars): Scalars {
  const out: Scalars = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = Math.max(0, round((out[k] ?? 0) - v));
  return out;
}

/** In place: a += sign·b. */
export function accumulate(a: Scalars, b: Scalars, sign: 1 | -1): void {
  // for-in rather than Object.entries: this runs several times per offer and allocates nothing.
  for (const k in b) a[k] = Math.max(0, round((a[k] ?? 0) + sign * b[k]!));
}

/** Every kind of b is at most a's. */
export function scalarsWithin(b: Scalars, a: Scalars): boolean {
  return Object.entries(b).every(([k, v]) => v <= (a[k] ?? 0) + 1e-9);
}

/** True when nothing is above zero. */
export function scalarsEmpty(a: Scalars): boolean {
  for (const k in a) if (!(a[k]! <= 0)) return false;
  return true;
}

/** The part of `need` not yet covered by `have`, per kind, dropping satisfied kinds. */
export function shortfall(need: Scalars, have: Scalars): Scalars {
  const out: Scalars = {};
  for (const [k, v] of Object.entries(need)) {
    const missing = round(v - (have[k] ?? 0));
    if (missing > 0) out[k] = missing;
  }
  return out;
}

/** The dominant share: the largest fraction of the cluster total held in any share kind. */
export function dominantShare(allocation: Scalars, total: Scalars): number {
  let share = 0;
  for (const k of SHARE_KINDS) {
    const t = total[k] ?? 0;
    if (t > 0) share = Math.max(share, (allocation[k] ?? 0) / t);
  }
  return share;
}

/** Back to a Resources value (unreserved), e.g. for text output. */
export function scalarsToResources(a: Scalars): Resources {
  return Object.entries(a).filter(([, v]) => v > 0).map(([k, v]) => scalarResource(k, v));
}

/** `cpus 3/4, mem 100/512`-style text for explanations. */
export function describeAgainst(used: Scalars, cap: Scalars): string {
  return Object.entries(cap).map(([k, v]) => `${k} ${used[k] ?? 0}/${v}`).join(', ');
}
