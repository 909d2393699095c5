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

export const UNRESERVED_ROLE = '*';
