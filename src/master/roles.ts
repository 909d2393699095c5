/**
 * Roles' weights and quota: checked, made durable, then handed to the allocator (which keeps
 * them, purely, with the sorter and the quota stage). Nothing else sets them.
 */
import { formatResources, type Resources } from '../common/resources.js';
import { scalarsToResources, toScalars } from '../common/scalars.js';
import type { Allocator } from './allocator/allocator.js';
import type { Effects } from './effects.js';
import type { OfferFlow } from './offer-flow.js';
import { checkQuota, checkWeight } from './quota.js';

export class Roles {
  constructor(
    private readonly allocator: Allocator,
    private readonly offers: OfferFlow,
    private readonly effects: Effects,
  ) {}

  /** Sets role weights: all checked, then written in one durable change, then applied (all or none). */
  async setWeights(weights: readonly { role: string; weight: number }[]): Promise<void> {
    weights.forEach((w, i) => checkWeight(w.role, w.weight, `weights[${i}]`));
    await this.effects.persist('set weight', (r) => r.setWeights(weights));
    for (const { role, weight } of weights) {
      this.allocator.setWeight(role, weight);
      this.effects.log.info({ role, weight }, 'role weight set');
    }
    this.offers.request();
  }

  /** Sets (or, with both empty, removes) a role's quota, durably first; returns a line for the operator. */
  async setQuota(role: string, guarantee: Resources, limit: Resources, force: boolean): Promise<string> {
    const quota = checkQuota(role, guarantee, limit, { allocated: this.allocator.roleAllocation(role), total: this.allocator.total(), force });
    const text = quota && { guarantee: formatResources(scalarsToResources(quota.guarantee)), limit: formatResources(scalarsToResources(quota.limit)) };
    await this.effects.persist('set quota', (r) => r.setQuota(role, text));
    this.allocator.setQuota(role, quota);
    this.offers.request();
    const line = text ? `quota of role '${role}': guarantee '${text.guarantee}', limit '${text.limit || 'none'}'` : `quota of role '${role}' removed`;
    this.effects.log.info({ role }, line);
    return line;
  }

  /** After a restart: what the registry holds, applied as it is (it was checked when it was set). */
  restore(weights: ReadonlyMap<string, number>, quotas: ReadonlyMap<string, { guarantee: Resources; limit: Resources }>): void {
    for (const [role, weight] of weights) this.allocator.setWeight(role, weight);
    for (const [role, q] of quotas) this.allocator.setQuota(role, { guarantee: toScalars(q.guarantee), limit: toScalars(q.limit) });
  }
}
