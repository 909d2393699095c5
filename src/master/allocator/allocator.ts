/**
 * The allocator: weighted DRF over roles, then over the frameworks inside each role (Mesos'
 * hierarchical allocator). Pure: no I/O, no timers, no clock — every method that needs time takes
 * `now`. It keeps its own books (what each agent has available, what each framework and role holds)
 * so a cycle costs O(what changed), and returns offer decisions the master turns into offers.
 *
 * A cycle has two stages, as in Mesos:
 *  1. Quota: roles with an unmet guarantee (and a framework that wants offers) get offers sized to
 *     what they still miss, before anyone else.
 *  2. Fair share: each agent goes to roles in weighted-DRF order, and inside a role to its
 *     frameworks in DRF order, skipping filtered ones; never past a role's limit, and never eating
 *     into the headroom other roles' unmet guarantees need.
 *
 * An agent on which every candidate was refused by a decline filter is remembered and skipped in
 * O(1) until its resources, the set of frameworks, or the earliest filter's expiry change: the
 * steady state of a cluster whose frameworks all declined costs a pass over agents, not agents × frameworks.
 *
 * This file holds the fair-share stage and what ties the books together; who may be offered what
 * is in membership.ts, the books on agents in agent-book.ts, the quota stage in quota-stage.ts.
 */
import { subtract, type Resources } from '../../common/resources.js';
import { addNormalized, asNormalized, containsNormalized, forRoleNormalized, subtractNormalized } from '../../common/resource-merge.js';
import { addScalars, toScalars, type Scalars } from '../../common/scalars.js';
import { AgentBook, refusal, type AgentEntry } from './agent-book.js';
import { explainRole, newRoleStats, type RoleExplanation } from './explain.js';
import { Membership, type RoleEntry } from './membership.js';
import { isOfferable, offerable } from './offerable.js';
import { QuotaStage, type Quota } from './quota-stage.js';
import { DrfSorter } from './sorter.js';

export { isOfferable, MIN_OFFER_CPUS, MIN_OFFER_MEM_MB } from './offerable.js';
export type { Quota } from './quota-stage.js';

export interface OfferDecision {
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
}

export class Allocator {
  private readonly agents = new AgentBook();
  private readonly roleSorter = new DrfSorter();
  private readonly members = new Membership((role) => {
    this.roleSorter.add(role, this.weight(role));
    // Re-ranking every role per new role made setup O(roles²); the next cycle re-ranks once.
    this.totalsDirty = true;
  });
  private readonly roles = this.members.roles;
  private readonly weights = new Map<string, number>();
  private readonly quotas = new QuotaStage({
    allocation: (role) => this.roleSorter.allocation(role),
    wantsOffers: (role) => (this.roles.get(role)?.frameworks.size ?? 0) > 0,
    unreservedFree: () => this.agents.unreservedFree,
  });
  private totalsDirty = false;
  /** Bumped when who may receive offers changes (frameworks, roles, suppression, filters cleared, quota). */
  private pairsVersion = 0;
  private cycle = 0;
  private skippedAgents = 0;

  // ---- agents -----------------------------------------------------------------------------

  /** Adds an agent; `used` are resources its tasks already hold (after a master failover). */
  addAgent(id: string, total: Resources, used: readonly { frameworkId: string; role: string; resources: Resources }[] = []): void {
    if (this.agents.get(id)) this.removeAgent(id);
    const agent = this.agents.add(id, total);
    this.totalsDirty = true;
    for (const u of used) this.commit(agent, u.frameworkId, u.role, asNormalized(u.resources));
  }

  /** Removes an agent and every allocation on it; a no-op for unknown agents. */
  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    for (const { frameworkId, role, resources } of this.agents.holdings(agent)) this.release(frameworkId, role, toScalars(resources));
    this.agents.remove(agent);
    this.totalsDirty = true;
  }

  /** Offers resume on an agent; a no-op if it is active. */
  activateAgent(id: string): void {
    this.agents.activate(id);
  }

  /** No offers from an agent until activated; its allocations stay. */
  deactivateAgent(id: string): void {
    this.agents.deactivate(id);
  }

  /**
   * Converts allocated resources of a framework in place (a RESERVE or UNRESERVE applied to
   * offered resources): the agent's total changes the same way. Quantities do not change.
   */
  convertAllocated(agentId: string, frameworkId: string, role: string, from: Resources, to: Resources): void {
    const agent = this.agents.get(agentId);
    if (agent) this.agents.convert(agent, frameworkId, role, from, to);
  }

  // ---- frameworks -------------------------------------------------------------------------

  /** Adds a framework (active unless said otherwise); re-adding updates its roles. */
  addFramework(id: string, roles: readonly string[], options: { active?: boolean } = {}): void {
    this.members.addFramework(id, roles, options);
    this.membersChanged();
  }

  /** Removes a framework from every role; its allocations must have been recovered first. */
  removeFramework(id: string): void {
    const roles = this.members.removeFramework(id);
    if (!roles) return;
    this.agents.removeFilters(id, roles);
    this.membersChanged();
  }

  /** The framework wants offers again (it re-subscribed). */
  activateFramework(id: string): void {
    if (this.members.setActive(id, true)) this.membersChanged();
  }

  /** No offers to a framework (it disconnected); its allocations stay. */
  deactivateFramework(id: string): void {
    if (this.members.setActive(id, false)) this.membersChanged();
  }

  /** Stops offers for the roles (all of the framework's when empty). */
  suppress(id: string, roles: readonly string[]): void {
    if (this.members.suppress(id, roles)) this.membersChanged();
  }

  /** The framework's suppressed roles, sorted (none for unknown frameworks). */
  suppressedRoles(id: string): string[] {
    return this.members.suppressedRoles(id);
  }

  /** Clears suppression and decline filters for the roles (all of the framework's when empty). */
  revive(id: string, roles: readonly string[]): void {
    const revived = this.members.revive(id, roles);
    if (!revived) return;
    this.agents.removeFilters(id, revived);
    this.membersChanged();
  }

  // ---- resources --------------------------------------------------------------------------

  /**
   * Takes resources back from a framework (a declined or rescinded offer, a finished task).
   * With `refuseUntil`, the framework is not offered these again on this agent and role until then.
   * Returns false (and changes nothing) when the framework does not hold them here.
   */
  recover(agentId: string, frameworkId: string, role: string, resources: Resources, refuseUntil?: number): boolean {
    const agent = this.agents.get(agentId);
    if (!agent) return false;
    const back = asNormalized(resources);
    if (back.length === 0) return true;
    // Taking back more than is held could hand out resources twice; refuse and let the caller say so.
    if (!this.agents.unallocated(agent, frameworkId, role, back)) return false;
    this.agents.setAvailable(agent, addNormalized(agent.available, back));
    this.release(frameworkId, role, toScalars(back));
    if (refuseUntil !== undefined) this.agents.addFilter(agent, role, frameworkId, { resources: back, expiresAt: refuseUntil });
    return true;
  }

  /** Records resources a framework already holds on an agent (tasks found after a failover). */
  recordUsed(agentId: string, frameworkId: string, role: string, resources: Resources): boolean {
    const agent = this.agents.get(agentId);
    if (!agent) return false;
    const used = asNormalized(resources);
    if (!containsNormalized(agent.available, used)) return false;
    this.commit(agent, frameworkId, role, used);
    return true;
  }

  // ---- roles ------------------------------------------------------------------------------

  /** Sets a role's weight (1 is the default). */
  setWeight(role: string, weight: number): void {
    if (weight === 1) this.weights.delete(role);
    else this.weights.set(role, weight);
    this.members.ensureRole(role);
    this.roleSorter.updateWeight(role, weight);
  }

  weight(role: string): number {
    return this.weights.get(role) ?? 1;
  }

  /** Sets (or with undefined, removes) a role's quota. */
  setQuota(role: string, quota: Quota | undefined): void {
    this.quotas.set(role, quota);
    this.members.ensureRole(role);
    this.pairsVersion++;
  }

  quota(role: string): Quota | undefined {
    return this.quotas.get(role);
  }

  /** What a role holds (offered and used), as scalars. */
  roleAllocation(role: string): Scalars {
    return this.roleSorter.allocation(role);
  }

  /** Every role known (subscribed, weighted or with quota), with its weight, holdings and share. */
  roleSummaries(): { role: string; weight: number; quota: Quota | undefined; allocated: Scalars; share: number; explanation: RoleExplanation }[] {
    this.refreshTotals();
    return [...this.roles.values()].map((r) => ({
      role: r.name,
      weight: this.weight(r.name),
      quota: this.quotas.get(r.name),
      allocated: { ...this.roleSorter.allocation(r.name) },
      share: this.roleSorter.share(r.name),
      explanation: explainRole(r.stats, { members: r.members.size, wanting: r.frameworks.size, quota: this.quotas.get(r.name), allocation: this.roleSorter.allocation(r.name), skippedAgents: this.skippedAgents }),
    }));
  }

  /** The cluster's total scalars. */
  total(): Scalars {
    return { ...this.agents.total };
  }

  /** An agent's unallocated resources (undefined for unknown agents). */
  available(agentId: string): Resources | undefined {
    return this.agents.get(agentId)?.available;
  }

  // ---- the cycle --------------------------------------------------------------------------

  /** One allocation cycle: offer decisions, already counted as allocated. */
  allocate(now: number): OfferDecision[] {
    this.refreshTotals();
    this.cycle++;
    this.skippedAgents = 0;
    for (const r of this.roles.values()) r.stats = newRoleStats();
    const offers: OfferDecision[] = [];
    if (this.agents.size === 0) return offers;
    const order = this.agents.rotation(this.cycle);
    this.quotas.allocate(order, this.roleSorter.sort(), (agent, role, candidate) => {
      const offer = this.offerToFramework(agent, this.roles.get(role)!, candidate, now);
      if (offer) offers.push(offer);
      return offer?.resources;
    });
    this.fairShareStage(order, now, offers);
    return offers;
  }

  /** How many agents the last cycle skipped because every candidate had declined them. */
  get lastSkippedAgents(): number {
    return this.skippedAgents;
  }

  private fairShareStage(order: readonly AgentEntry[], now: number, offers: OfferDecision[]): void {
    for (const agent of order) {
      if (!agent.active || !isOfferable(agent.availableScalars)) continue;
      const skip = agent.skip;
      if (skip && skip.version === agent.version && skip.pairsVersion === this.pairsVersion && now < skip.until) {
        this.skippedAgents++;
        continue;
      }
      agent.skip = undefined;
      let onlyFilters = true;
      let filteredUntil = Infinity;
      let offered = false;
      for (const role of this.roleSorter.sort()) {
        const entry = this.roles.get(role)!;
        if (entry.frameworks.size === 0) continue;
        const whole = forRoleNormalized(agent.available, role);
        let candidate = whole;
        if (candidate.length === 0) continue;
        const limited = this.quotas.limit(role, candidate);
        if (limited !== candidate && !offerable(limited)) {
          entry.stats.limited++;
          onlyFilters = false;
          continue;
        }
        candidate = this.quotas.withinHeadroom(role, limited);
        // A cut candidate can grow without this agent changing (the role's holdings elsewhere
        // shrink): such an agent must be looked at again, not skipped.
        if (candidate !== whole) onlyFilters = false;
        if (!offerable(candidate)) {
          if (offerable(limited)) {
            entry.stats.headroom++;
            onlyFilters = false;
          }
          continue;
        }
        const offer = this.offerToFramework(agent, entry, candidate, now);
        if (offer) {
          offers.push(offer);
          offered = true;
          if (!isOfferable(agent.availableScalars)) break;
        } else {
          filteredUntil = Math.min(filteredUntil, entry.stats.filteredUntil);
        }
      }
      if (!offered && onlyFilters && filteredUntil < Infinity) {
        agent.skip = { version: agent.version, pairsVersion: this.pairsVersion, until: filteredUntil };
      }
    }
  }

  /**
   * Offers `candidate` to the first framework of the role (in DRF order) that has not declined
   * it; commits and returns the decision, or undefined when every framework is filtered.
   */
  private offerToFramework(agent: AgentEntry, entry: RoleEntry, candidate: Resources, now: number): OfferDecision | undefined {
    const filters = agent.filters.get(entry.name);
    const frameworkId = entry.frameworks.find((id) => {
      const filter = refusal(filters, id, candidate, now);
      if (filter === undefined) return true;
      entry.stats.filtered++;
      entry.stats.filteredUntil = Math.min(entry.stats.filteredUntil, filter.expiresAt);
      return false;
    });
    if (frameworkId === undefined) return undefined;
    this.commit(agent, frameworkId, entry.name, candidate);
    entry.stats.offers++;
    return { frameworkId, agentId: agent.id, role: entry.name, resources: candidate };
  }

  // ---- books ------------------------------------------------------------------------------

  /** Counts normalised `resources` as held by the framework; throws when the agent lacks them. */
  private commit(agent: AgentEntry, frameworkId: string, role: string, resources: Resources): void {
    // Checked before anything changes; `subtract` throws InsufficientResourcesError with the shortfalls.
    const available = subtractNormalized(agent.available, resources) ?? subtract(agent.available, resources);
    this.agents.allocated(agent, frameworkId, role, resources);
    this.agents.setAvailable(agent, available);
    const amount = toScalars(resources);
    const entry = this.members.ensureRole(role);
    this.roleSorter.allocated(role, amount);
    // Tasks found after a failover may belong to a framework that has not re-subscribed yet:
    // its holdings still count in its share once it does.
    if (!entry.frameworks.has(frameworkId)) {
      entry.frameworks.add(frameworkId);
      entry.frameworks.deactivate(frameworkId);
    }
    entry.frameworks.allocated(frameworkId, amount);
    this.quotas.holdingsChanged(role);
  }

  private release(frameworkId: string, role: string, amount: Scalars): void {
    this.roleSorter.unallocated(role, amount);
    this.roles.get(role)?.frameworks.unallocated(frameworkId, amount);
    this.quotas.holdingsChanged(role);
  }

  /** Who may be offered what changed: skipped agents are looked at again, quota demand recomputed. */
  private membersChanged(): void {
    this.pairsVersion++;
    this.quotas.demandChanged();
  }

  private refreshTotals(): void {
    if (!this.totalsDirty) return;
    this.totalsDirty = false;
    this.roleSorter.updateTotal(this.agents.total);
    for (const r of this.roles.values()) r.frameworks.updateTotal(this.agents.total);
  }

  /** Sum of every agent's allocations, for invariant checks in tests. */
  allocatedOn(agentId: string): Resources {
    return this.agents.allocatedOn(agentId);
  }
}

export { addScalars, type RoleExplanation };
