/**
 * Checks an operator's weight and quota requests, purely. Quota is quantities: scalars only, not
 * reserved, a limit never below its guarantee. Setting a limit below what a role already holds, or a
 * guarantee above the whole cluster, is refused unless forced (nothing running is killed either way).
 */
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import { checkName } from '../common/names.js';
import { formatResources, isEmpty, type Resources } from '../common/resources.js';
import { within, type Bounds } from '../common/task-limits.js';
import type { Quota } from './allocator/allocator.js';
import { toScalars, type Scalars } from '../common/scalars.js';

/**
 * A role's weight: positive and bounded both ways, so that a share divided by it stays a finite,
 * comparable number (a weight of 1e-300 would make every share infinite).
 */
export const ROLE_WEIGHT: Bounds = { min: 0.001, max: 1_000_000 };

function checkRole(role: string, field: string): void {
  if (role === '*') throw new InvalidArgumentError(field, "the unreserved role '*' cannot have a weight or quota");
  checkName('role', role, field);
}

/** Validates a weight update. */
export function checkWeight(role: string, weight: number, field = 'weights'): void {
  checkRole(role, `${field}.role`);
  if (!(Number.isFinite(weight) && within(weight, ROLE_WEIGHT))) {
    throw new InvalidArgumentError(`${field}.weight`, `must be a positive number from ${ROLE_WEIGHT.min} to ${ROLE_WEIGHT.max}, got ${weight}`);
  }
}

function quantities(resources: Resources, field: string): Scalars {
  const bad = resources.find((r) => r.kind !== 'scalar' || r.role !== '*');
  if (bad) {
    throw new InvalidArgumentError(field, `quota takes unreserved scalars (cpus, mem, disk, gpus); '${formatResources([bad])}' is not one`);
  }
  return toScalars(resources);
}

/**
 * Validates a quota request; returns the quota to set, or undefined to remove it (both empty).
 * `allocated` is what the role holds now; `total` the cluster's scalars.
 */
export function checkQuota(role: string, guarantee: Resources, limit: Resources, ctx: { allocated: Scalars; total: Scalars; force: boolean }): Quota | undefined {
  checkRole(role, 'role');
  if (isEmpty(guarantee) && isEmpty(limit)) return undefined;
  const g = quantities(guarantee, 'guarantee');
  const l = quantities(limit, 'limit');
  for (const [kind, cap] of Object.entries(l)) {
    if ((g[kind] ?? 0) > cap) throw new InvalidArgumentError('limit', `${kind} limit ${cap} is below its guarantee ${g[kind]}`);
  }
  if (!ctx.force) {
    for (const [kind, cap] of Object.entries(l)) {
      const held = ctx.allocated[kind] ?? 0;
      if (held > cap) {
        throw new FailedPreconditionError('FORCE_REQUIRED', `role '${role}' holds ${kind} ${held}, above the new limit ${cap}; use --force to set it anyway (running tasks are not killed)`);
      }
    }
    for (const [kind, want] of Object.entries(g)) {
      const have = ctx.total[kind] ?? 0;
      if (want > have) throw new FailedPreconditionError('FORCE_REQUIRED', `the guarantee of ${kind} ${want} exceeds the cluster's ${kind} ${have}; use --force to set it anyway`);
    }
  }
  return { guarantee: g, limit: l };
}
