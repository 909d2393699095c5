/**
 * Offer filters: "don't offer me these again for refuse_seconds". Pure: time is an argument.
 * A filter matches a later candidate offer when the candidate is a subset of the declined
 * resources (Mesos' rule): offering less than what was refused is still refused, offering more
 * (something freed up) is not.
 */
import { contains, type Resources } from '../../common/resources.js';

export interface OfferFilter {
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
  /** Milliseconds since the epoch after which the filter no longer applies. */
  expiresAt: number;
}

/** Filters keyed by framework; cheap to clear on revive and to drop on expiry. */
export class OfferFilters {
  private readonly byFramework = new Map<string, OfferFilter[]>();

  /** Adds a filter; a non-positive duration adds nothing. */
  add(filter: OfferFilter, now: number): void {
    if (filter.expiresAt <= now) return;
    const list = this.byFramework.get(filter.frameworkId) ?? [];
    list.push(filter);
    this.byFramework.set(filter.frameworkId, list);
  }

  /** True when a live filter refuses `resources` of `agentId` for this framework and role. */
  isFiltered(frameworkId: string, agentId: string, role: string, resources: Resources, now: number): boolean {
    const list = this.byFramework.get(frameworkId);
    if (!list) return false;
    return list.some((f) => f.agentId === agentId && f.role === role && f.expiresAt > now && contains(f.resources, resources));
  }

  /** Clears a framework's filters, for some roles or all; a no-op when it has none. */
  clear(frameworkId: string, roles?: readonly string[]): void {
    if (!roles || roles.length === 0) {
      this.byFramework.delete(frameworkId);
      return;
    }
    const list = this.byFramework.get(frameworkId);
    if (list) this.byFramework.set(frameworkId, list.filter((f) => !roles.includes(f.role)));
  }

  /** Drops filters that expired before `now`. */
  expire(now: number): void {
    for (const [id, list] of this.byFramework) {
      const live = list.filter((f) => f.expiresAt > now);
      if (live.length === 0) this.byFramework.delete(id);
      else if (live.length !== list.length) this.byFramework.set(id, live);
    }
  }

  /** Number of live filters (for metrics and tests). */
  size(): number {
    let n = 0;
    for (const list of this.byFramework.values()) n += list.length;
    return n;
  }
}
