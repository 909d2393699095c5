/**
 * The foundation's allocator: a fair round-robin over (framework, role) pairs. Pure: it takes a
 * snapshot and `now` and returns offer decisions; the master applies them. (Weighted DRF replaces
 * the ordering later; the shape of input and output stays.)
 *
 * Each agent's available resources go, one role at a time, to the next framework in the rotation
 * that subscribes with that role, is not suppressed for it, and has no filter refusing them.
 * The rotation carries over between agents and cycles, so frameworks take turns.
 */
import { forRole, isEmpty, scalar, subtract, type Resources } from '../../common/resources.js';
import type { OfferFilters } from './filters.js';

export interface AllocatableAgent {
  id: string;
  /** Total minus used minus already offered. */
  available: Resources;
}

export interface AllocatableFramework {
  id: string;
  roles: readonly string[];
  suppressedRoles: ReadonlySet<string>;
}

export interface AllocationInput {
  agents: readonly AllocatableAgent[];
  frameworks: readonly AllocatableFramework[];
  filters: OfferFilters;
  now: number;
  /** Where the rotation starts; return it as `cursor` to the next call. */
  cursor: number;
}

export interface OfferDecision {
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
}

export interface AllocationResult {
  offers: OfferDecision[];
  cursor: number;
}

/** Mesos' minimum offer chunk: an offer must carry at least this much cpus or mem. */
export const MIN_OFFER_CPUS = 0.01;
export const MIN_OFFER_MEM_MB = 32;

/** True when resources are worth offering: enough cpus or enough mem. */
export function isOfferable(resources: Resources): boolean {
  return scalar(resources, 'cpus') >= MIN_OFFER_CPUS || scalar(resources, 'mem') >= MIN_OFFER_MEM_MB;
}

/** One allocation cycle over the given agents. */
export function allocateRoundRobin(input: AllocationInput): AllocationResult {
  const pairs: { frameworkId: string; role: string }[] = [];
  for (const f of input.frameworks) {
    for (const role of f.roles) if (!f.suppressedRoles.has(role)) pairs.push({ frameworkId: f.id, role });
  }
  const offers: OfferDecision[] = [];
  let cursor = pairs.length === 0 ? 0 : input.cursor % pairs.length;
  if (pairs.length === 0) return { offers, cursor };

  for (const agent of input.agents) {
    let remaining = agent.available;
    const offeredTo = new Set<string>();
    for (let step = 0; step < pairs.length && !isEmpty(remaining); step++) {
      const pair = pairs[(cursor + step) % pairs.length]!;
      const key = `${pair.frameworkId}\u0000${pair.role}`;
      // A framework gets at most one offer per agent and role in a cycle.
      if (offeredTo.has(key)) continue;
      const candidate = forRole(remaining, pair.role);
      if (isEmpty(candidate) || !isOfferable(candidate)) continue;
      if (input.filters.isFiltered(pair.frameworkId, agent.id, pair.role, candidate, input.now)) continue;
      offers.push({ frameworkId: pair.frameworkId, agentId: agent.id, role: pair.role, resources: candidate });
      offeredTo.add(key);
      remaining = subtract(remaining, candidate);
      cursor = (cursor + step + 1) % pairs.length;
      step = -1;
    }
  }
  return { offers, cursor };
}
