/**
 * Per-call caps: how much one call may ask of the master, so that no call holds the event loop for
 * long (DESIGN.md "Limits"; bench/call-caps.ts measures a call at each cap). Each is a master flag
 * within bounds; a call over a cap is refused with INVALID_ARGUMENT naming the field, the cap and
 * the flag, before any of it is applied.
 */
import { InvalidArgumentError } from './errors.js';
import type { Bounds } from './task-limits.js';

export interface CallLimits {
  /** Tasks in one Accept, over all its LAUNCH operations. */
  tasksPerAccept: number;
  /** Operations in one Accept. */
  operationsPerAccept: number;
  /** Offer ids in one Accept (all of one agent: a handful). */
  offersPerAccept: number;
  /** Offer ids in one Decline (a framework may decline every offer of a cycle: one per agent). */
  offersPerDecline: number;
  /** Task ids in one explicit Reconcile. */
  reconcileTasks: number;
  /** Acknowledgements in one Acknowledge. */
  acksPerCall: number;
  /** Roles in one Revive, Suppress or UpdateWeights. */
  rolesPerCall: number;
  /** Resource entries in a SetQuota's guarantee, and in its limit. */
  quotaResources: number;
}

interface CapSpec {
  flag: string;
  default: number;
  bounds: Bounds;
  /** What is counted, and per what: '1000 tasks in one Accept call'. */
  items: string;
  per: string;
}

/**
 * Every cap with its flag, default and bounds. The SDK sends at most 1000 acknowledgements,
 * 1000 reconciliation ids and 10,000 declined offers per call, and the frameworks launch at most 500 tasks per Accept
 * (framework-sdk/scheduler-client.ts), within these defaults. Measured by bench/call-caps.ts on a
 * 2-core EPYC: an Accept of 500 small tasks stalls the loop about 30 ms, of 1000 about 55 ms (80 ms
 * with 10 labels and 10 environment variables each), hence the default and the upper bound; a
 * Decline of 10,000 outstanding offers (one per agent of a 10k cluster) about 55 ms; a call at any
 * other cap stalls it under 5 ms.
 */
export const CALL_CAPS: Readonly<Record<keyof CallLimits, CapSpec>> = {
  tasksPerAccept: { flag: '--max-tasks-per-accept', default: 500, bounds: { min: 1, max: 1_000 }, items: 'tasks', per: 'one Accept call' },
  operationsPerAccept: { flag: '--max-operations-per-accept', default: 100, bounds: { min: 1, max: 1_000 }, items: 'operations', per: 'one Accept call' },
  offersPerAccept: { flag: '--max-offers-per-accept', default: 100, bounds: { min: 1, max: 1_000 }, items: 'offer ids', per: 'one Accept call' },
  offersPerDecline: { flag: '--max-offers-per-decline', default: 10_000, bounds: { min: 1, max: 10_000 }, items: 'offer ids', per: 'one Decline call' },
  reconcileTasks: { flag: '--max-reconcile-tasks', default: 1_000, bounds: { min: 1, max: 10_000 }, items: 'task ids', per: 'one Reconcile call' },
  acksPerCall: { flag: '--max-acks-per-call', default: 1_000, bounds: { min: 1, max: 10_000 }, items: 'acknowledgements', per: 'one Acknowledge call' },
  rolesPerCall: { flag: '--max-roles-per-call', default: 100, bounds: { min: 1, max: 1_000 }, items: 'roles', per: 'one Revive, Suppress or UpdateWeights call' },
  quotaResources: { flag: '--max-quota-resources', default: 64, bounds: { min: 1, max: 256 }, items: 'resource entries', per: 'a SetQuota guarantee or limit' },
};

const KEYS = Object.keys(CALL_CAPS) as (keyof CallLimits)[];

/** The defaults, with `overrides` applied; throws RangeError for an override outside its bounds. */
export function callLimits(overrides: Partial<CallLimits> = {}): CallLimits {
  const limits = {} as CallLimits;
  for (const key of KEYS) {
    const cap = CALL_CAPS[key];
    const value = overrides[key] ?? cap.default;
    if (!(Number.isInteger(value) && value >= cap.bounds.min && value <= cap.bounds.max)) {
      throw new RangeError(`${cap.flag} must be an integer from ${cap.bounds.min} to ${cap.bounds.max}, got ${value}`);
    }
    limits[key] = value;
  }
  return limits;
}

/** Refuses `count` items in `field` when over the cap, naming the cap and its flag. */
export function checkCap(count: number, key: keyof CallLimits, limits: CallLimits, field: string): void {
  const max = limits[key];
  if (count > max) {
    const { items, per, flag } = CALL_CAPS[key];
    throw new InvalidArgumentError(field, `${count} ${items} exceed the cap of ${max} ${items} in ${per} (master flag ${flag})`, { reason: 'LIMIT_EXCEEDED' });
  }
}
