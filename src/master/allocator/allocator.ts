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
 */
import {
  add,
  subtract,
  type Resource,
  type Resources,
} from '../../common/resources.js';
import {
  addNormalized,
  asNormalized,
  containsNormalized,
  forRoleNormalized,
  sameTextForm,
  subtractNormalized,
  unreservedNormalized,
  unreservedScalars,
} from '../../common/resource-merge.js';
import { explainRole, newRoleStats, type RoleExplanation, type RoleStats } from './explain.js';
import { accumulate, addScalars, dominantShare, scalarsEmpty, shortfall, subtractScalars, toScalars, type Scalars } from '../../common/scalars.js';
import { DrfSorter } from './sorter.js';

/** Mesos' minimum offer chunk: an offer must carry at least this much cpus or mem. */
export const MIN_OFFER_CPUS = 0.01;
export const MIN_OFFER_MEM_MB = 32;

/** True when resources are worth offering: enough cpus or enough mem. */
export function isOfferable(s: Scalars): boolean {
  return (s['cpus'] ?? 0) >= MIN_OFFER_CPUS || (s['mem'] ?? 0) >= MIN_OFFER_MEM_MB;
}

/** `isOfferable(toScalars(r))`, without building the scalars (summed and rounded the same way). */
function offerable(r: Resources): boolean {
  let cpus = 0;
  let mem = 0;
  for (const e of r) {
    if (e.kind !== 'scalar') continue;
    if (e.name === 'cpus') cpus = Math.round((cpus + (e.scalar ?? 0)) * 1000) / 1000;
    else if (e.name === 'mem') mem = Math.round((mem + (e.scalar ?? 0)) * 1000) / 1000;
  }
  return cpus >= MIN_OFFER_CPUS || mem >= MIN_OFFER_MEM_MB;
}

export interface OfferDecision {
  frameworkId: string;
  agentId: string;
  role: string;
  resources: Resources;
}

/** A role's quota: a guarantee held for it and a limit it never exceeds (scalars; empty = none). */
export interface Quota {
  guarantee: Scalars;
  limit: Scalars;
}

interface Filter {
  resources: Resources;
  expiresAt: number;
}

/** Every Resources value kept here is normalised, so the books use the linear merges of resource-merge.ts. */
interface AgentEntry {
  id: string;
  total: Resources;
  available: Resources;
  /** Scalars of `available`, all roles. */
  availableScalars: Scalars;
  active: boolean;
  /** Bumped whenever `available` changes. */
  version: number;
  /** Set when every candidate here was filtered: skip until a version changes or `until`. */
  skip: { version: number; pairsVersion: number; until: number } | undefined;
  /** Decline filters on this agent, by role and then framework (a framework id string is looked up as is, never built). */
  filters: Map<string, Map<string, Filter>>;
  /** What each `framework\0role` holds here (offered or used). */
  allocations: Map<string, Resources>;
}

interface FrameworkEntry {
  id: string;
  roles: Set<string>;
  suppressed: Set<string>;
  active: boolean;
}

interface RoleEntry {
  name: string;
  /** Frameworks subscribed with this role. */
  members: Set<string>;
  /** The members that want offers now (active, not suppressed for this role), in DRF order. */
  frameworks: DrfSorter;
  stats: RoleStats;
}

const pair = (frameworkId: string, role: string) => `${frameworkId}\u0000${role}`;

export class Allocator {
  private readonly agents = new Map<string, AgentEntry>();
  private agentList: AgentEntry[] = [];
  private readonly frameworks = new Map<string, FrameworkEntry>();
  private readonly roles = new Map<string, RoleEntry>();
  private readonly roleSorter = new DrfSorter();
  private readonly weights = new Map<string, number>();
  private readonly quotas = new Map<string, Quota>();
  private clusterTotal: Scalars = {};
  /** Unreserved, unallocated scalars on active agents: what quota headroom is measured against. */
  private unreservedFree: Scalars = {};
  private totalsDirty = false;
  /** Bumped when who may receive offers changes (frameworks, roles, suppression, filters cleared, quota). */
  private pairsVersion = 0;
  private cycle = 0;
  private skippedAgents = 0;
  /**
   * Headroom bookkeeping: what each quota role with demand still misses of its guarantee, and the
   * sum. Kept incrementally as roles' holdings change, recomputed only when demand or quota
   * changes, so a headroom check costs O(kinds), not O(roles).
   */
  private headroomDirty = true;
  private readonly missingBy = new Map<string, Scalars>();
  private missingTotal: Scalars = {};

  // ---- agents -----------------------------------------------------------------------------

  /** Adds an agent; `used` are resources its tasks already hold (after a master failover). */
  addAgent(id: string, total: Resources, used: readonly { frameworkId: string; role: string; resources: Resources }[] = []): void {
    if (this.agents.has(id)) this.removeAgent(id);
    const whole = asNormalized(total);
    const agent: AgentEntry = { id, total: whole, available: whole, availableScalars: toScalars(whole), active: true, version: 0, skip: undefined, filters: new Map(), allocations: new Map() };
    this.agents.set(id, agent);
    this.agentList.push(agent);
    accumulate(this.clusterTotal, toScalars(whole), 1);
    accumulate(this.unreservedFree, unreservedScalars(whole), 1);
    this.totalsDirty = true;
    for (const u of used) this.commit(agent, u.frameworkId, u.role, asNormalized(u.resources));
  }

  /** Removes an agent and every allocation on it; a no-op for unknown agents. */
  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    for (const [key, resources] of agent.allocations) {
      const [frameworkId, role] = key.split('\u0000') as [string, string];
      this.release(frameworkId, role, toScalars(resources));
    }
    if (agent.active) accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
    accumulate(this.clusterTotal, toScalars(agent.total), -1);
    this.agents.delete(id);
    this.agentList = this.agentList.filter((a) => a !== agent);
    this.totalsDirty = true;
  }

  /** Offers resume on an agent; a no-op if it is active. */
  activateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent || agent.active) return;
    agent.active = true;
    accumulate(this.unreservedFree, unreservedScalars(agent.available), 1);
  }

  /** No offers from an agent until activated; its allocations stay. */
  deactivateAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent || !agent.active) return;
    agent.active = false;
    accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
  }

  /**
   * Converts allocated resources of a framework in place (a RESERVE or UNRESERVE applied to
   * offered resources): the agent's total changes the same way. Quantities do not change.
   */
  convertAllocated(agentId: string, frameworkId: string, role: string, from: Resources, to: Resources): void {
    const agent = this.agents.get(agentId);
    if (!agent) return;
    const key = pair(frameworkId, role);
    agent.allocations.set(key, add(subtract(agent.allocations.get(key) ?? [], from), to));
    agent.total = add(subtract(agent.total, from), to);
  }

  // ---- frameworks -------------------------------------------------------------------------

  /** Adds a framework (active unless said otherwise); re-adding updates its roles. */
  addFramework(id: string, roles: readonly string[], options: { active?: boolean; suppressed?: readonly string[] } = {}): void {
    const existing = this.frameworks.get(id);
    const framework: FrameworkEntry = existing ?? { id, roles: new Set(), suppressed: new Set(), active: options.active ?? true };
    if (!existing) this.frameworks.set(id, framework);
    for (const r of options.suppressed ?? []) framework.suppressed.add(r);
    for (const r of framework.roles) if (!roles.includes(r)) this.leaveRole(framework, r);
    for (const r of roles) if (!framework.roles.has(r)) this.joinRole(framework, r);
    this.pairsVersion++;
    this.headroomDirty = true;
  }

  /** Removes a framework from every role; its allocations must have been recovered first. */
  removeFramework(id: string): void {
    const framework = this.frameworks.get(id);
    if (!framework) return;
    const roles = [...framework.roles];
    for (const agent of this.agents.values()) for (const r of roles) agent.filters.get(r)?.delete(id);
    for (const r of roles) this.leaveRole(framework, r);
    this.frameworks.delete(id);
    this.pairsVersion++;
    this.headroomDirty = true;
  }

  /** The framework wants offers again (it re-subscribed). */
  activateFramework(id: string): void {
    this.setActive(id, true);
  }

  /** No offers to a framework (it disconnected); its allocations stay. */
  deactivateFramework(id: string): void {
    this.setActive(id, false);
  }

  /** Stops offers for the roles (all of the framework's when empty). */
  suppress(id: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(id);
    if (!framework) return;
    for (const r of roles.length === 0 ? framework.roles : roles) {
      if (!framework.roles.has(r)) continue;
      framework.suppressed.add(r);
      this.roles.get(r)?.frameworks.deactivate(id);
    }
    this.pairsVersion++;
    this.headroomDirty = true;
  }

  /** Clears suppression and decline filters for the roles (all of the framework's when empty). */
  revive(id: string, roles: readonly string[]): void {
    const framework = this.frameworks.get(id);
    if (!framework) return;
    const which = roles.length === 0 ? [...framework.roles] : roles.filter((r) => framework.roles.has(r));
    for (const r of which) {
      framework.suppressed.delete(r);
      if (framework.active) this.roles.get(r)?.frameworks.activate(id);
      for (const agent of this.agents.values()) agent.filters.get(r)?.delete(id);
    }
    this.pairsVersion++;
    this.headroomDirty = true;
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
    const key = pair(frameworkId, role);
    const held = agent.allocations.get(key) ?? [];
    // Taking back more than is held could hand out resources twice; refuse and let the caller say so.
    const left = subtractNormalized(held, back);
    if (left === undefined) return false;
    if (left.length === 0) agent.allocations.delete(key);
    else agent.allocations.set(key, left);
    this.setAvailable(agent, addNormalized(agent.available, back));
    this.release(frameworkId, role, toScalars(back));
    if (refuseUntil !== undefined) {
      let filters = agent.filters.get(role);
      if (filters === undefined) agent.filters.set(role, (filters = new Map()));
      filters.set(frameworkId, { resources: back, expiresAt: refuseUntil });
    }
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
    this.ensureRole(role);
    this.roleSorter.updateWeight(role, weight);
  }

  weight(role: string): number {
    return this.weights.get(role) ?? 1;
  }

  /** Sets (or with undefined, removes) a role's quota. */
  setQuota(role: string, quota: Quota | undefined): void {
    if (quota) this.quotas.set(role, quota);
    else this.quotas.delete(role);
    this.ensureRole(role);
    this.pairsVersion++;
    this.headroomDirty = true;
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
    return { ...this.clusterTotal };
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
    const n = this.agentList.length;
    if (n === 0) return offers;
    // Start at a different agent each cycle so no agent is always first.
    const start = this.cycle % n;
    const order = n > 1 ? [...this.agentList.slice(start), ...this.agentList.slice(0, start)] : this.agentList;
    this.quotaStage(order, now, offers);
    this.fairShareStage(order, now, offers);
    return offers;
  }

  /** How many agents the last cycle skipped because every candidate had declined them. */
  get lastSkippedAgents(): number {
    return this.skippedAgents;
  }

  private quotaStage(order: readonly AgentEntry[], now: number, offers: OfferDecision[]): void {
    // Agents before `first` are inactive or have nothing offerable left. A cycle only takes
    // resources away, so they stay that way: later roles start their walk at `first`.
    let first = 0;
    for (const role of this.roleSorter.sort()) {
      const quota = this.quotas.get(role);
      const entry = this.roles.get(role);
      if (!quota || !entry || entry.frameworks.size === 0) continue;
      let need = shortfall(quota.guarantee, this.roleSorter.allocation(role));
      while (first < order.length && (!order[first]!.active || !isOfferable(order[first]!.availableScalars))) first++;
      for (let i = first; i < order.length; i++) {
        const agent = order[i]!;
        if (scalarsEmpty(need)) break;
        if (!agent.active || !isOfferable(agent.availableScalars)) continue;
        // Every kind of the guarantee is capped at what is still missing (a met kind at 0); other
        // kinds pass, but never out of the headroom other roles' unmet guarantees need.
        const cap: Scalars = {};
        for (const kind of Object.keys(quota.guarantee)) cap[kind] = need[kind] ?? 0;
        const sized = chop(forRoleNormalized(agent.available, role), cap, Object.keys(quota.guarantee));
        const candidate = this.withinHeadroom(role, this.limitFor(role, sized));
        if (!offerable(candidate)) continue;
        const offer = this.offerToFramework(agent, entry, candidate, now);
        if (!offer) continue;
        offers.push(offer);
        need = shortfall(need, toScalars(offer.resources));
      }
    }
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
        const limited = this.limitFor(role, candidate);
        if (limited !== candidate && !offerable(limited)) {
          entry.stats.limited++;
          onlyFilters = false;
          continue;
        }
        candidate = this.withinHeadroom(role, limited);
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
      const filter = filters?.get(id);
      if (filter === undefined) return true;
      if (filter.expiresAt <= now) {
        filters!.delete(id);
        return true;
      }
      // The text-form comparison is what filters always matched on (it ignores the dynamic flag).
      if (!sameTextForm(filter.resources, candidate) && !containsNormalized(filter.resources, candidate)) return true;
      entry.stats.filtered++;
      entry.stats.filteredUntil = Math.min(entry.stats.filteredUntil, filter.expiresAt);
      return false;
    });
    if (frameworkId === undefined) return undefined;
    this.commit(agent, frameworkId, entry.name, candidate);
    entry.stats.offers++;
    return { frameworkId, agentId: agent.id, role: entry.name, resources: candidate };
  }

  /** Caps a role's candidate at what its quota limit still allows. */
  private limitFor(role: string, candidate: Resources): Resources {
    const limit = this.quotas.get(role)?.limit;
    if (!limit || Object.keys(limit).length === 0) return candidate;
    return chop(candidate, shortfall(limit, this.roleSorter.allocation(role)), Object.keys(limit));
  }

  /**
   * Caps the unreserved part of a candidate so what stays free still covers the unmet guarantees
   * of other roles that want offers (their headroom). Reserved resources are the role's own.
   */
  private withinHeadroom(role: string, candidate: Resources): Resources {
    this.refreshHeadroom();
    if (scalarsEmpty(this.missingTotal)) return candidate; // no unmet guarantees at all
    const required = subtractScalars(this.missingTotal, this.missingBy.get(role) ?? {});
    if (scalarsEmpty(required)) return candidate;
    const slack = subtractScalars(this.unreservedFree, required);
    const free = unreservedNormalized(candidate);
    const kept = chop(free, slack, Object.keys(required));
    // `free` is a part of `candidate`, so the subtraction cannot fail.
    return kept === free ? candidate : addNormalized(subtractNormalized(candidate, free) ?? subtract(candidate, free), kept);
  }

  // ---- books ------------------------------------------------------------------------------

  /** What a quota role with demand still misses of its guarantee (nothing without demand). */
  private missing(role: string): Scalars {
    const quota = this.quotas.get(role);
    if (!quota || (this.roles.get(role)?.frameworks.size ?? 0) === 0) return {};
    return shortfall(quota.guarantee, this.roleSorter.allocation(role));
  }

  private refreshHeadroom(): void {
    if (!this.headroomDirty) return;
    this.headroomDirty = false;
    this.missingBy.clear();
    this.missingTotal = {};
    for (const role of this.quotas.keys()) {
      const m = this.missing(role);
      this.missingBy.set(role, m);
      accumulate(this.missingTotal, m, 1);
    }
  }

  /** A quota role's holdings changed: move its part of the headroom total. */
  private updateHeadroom(role: string): void {
    if (this.headroomDirty || !this.quotas.has(role)) return;
    const before = this.missingBy.get(role) ?? {};
    const after = this.missing(role);
    accumulate(this.missingTotal, before, -1);
    accumulate(this.missingTotal, after, 1);
    this.missingBy.set(role, after);
  }

  /** Counts normalised `resources` as held by the framework; throws when the agent lacks them. */
  private commit(agent: AgentEntry, frameworkId: string, role: string, resources: Resources): void {
    // Checked before anything changes; `subtract` throws InsufficientResourcesError with the shortfalls.
    const available = subtractNormalized(agent.available, resources) ?? subtract(agent.available, resources);
    const key = pair(frameworkId, role);
    agent.allocations.set(key, addNormalized(agent.allocations.get(key) ?? [], resources));
    this.setAvailable(agent, available);
    const amount = toScalars(resources);
    const entry = this.ensureRole(role);
    this.roleSorter.allocated(role, amount);
    // Tasks found after a failover may belong to a framework that has not re-subscribed yet:
    // its holdings still count in its share once it does.
    if (!entry.frameworks.has(frameworkId)) {
      entry.frameworks.add(frameworkId);
      entry.frameworks.deactivate(frameworkId);
    }
    entry.frameworks.allocated(frameworkId, amount);
    this.updateHeadroom(role);
  }

  private release(frameworkId: string, role: string, amount: Scalars): void {
    this.roleSorter.unallocated(role, amount);
    this.roles.get(role)?.frameworks.unallocated(frameworkId, amount);
    this.updateHeadroom(role);
  }

  private setAvailable(agent: AgentEntry, available: Resources): void {
    if (agent.active) {
      accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
      accumulate(this.unreservedFree, unreservedScalars(available), 1);
    }
    agent.available = available;
    agent.availableScalars = toScalars(available);
    agent.version++;
  }

  private ensureRole(role: string): RoleEntry {
    let entry = this.roles.get(role);
    if (!entry) {
      entry = { name: role, members: new Set(), frameworks: new DrfSorter(), stats: newRoleStats() };
      this.roles.set(role, entry);
      this.roleSorter.add(role, this.weight(role));
      // Re-ranking every role per new role made setup O(roles²); the next cycle re-ranks once.
      this.totalsDirty = true;
    }
    return entry;
  }

  private joinRole(framework: FrameworkEntry, role: string): void {
    const entry = this.ensureRole(role);
    framework.roles.add(role);
    entry.members.add(framework.id);
    entry.frameworks.add(framework.id);
    if (!framework.active || framework.suppressed.has(role)) entry.frameworks.deactivate(framework.id);
    else entry.frameworks.activate(framework.id);
  }

  private leaveRole(framework: FrameworkEntry, role: string): void {
    framework.roles.delete(role);
    framework.suppressed.delete(role);
    const entry = this.roles.get(role);
    entry?.members.delete(framework.id);
    entry?.frameworks.remove(framework.id);
  }

  private setActive(id: string, active: boolean): void {
    const framework = this.frameworks.get(id);
    if (!framework || framework.active === active) return;
    framework.active = active;
    for (const r of framework.roles) {
      const sorter = this.roles.get(r)?.frameworks;
      if (active && !framework.suppressed.has(r)) sorter?.activate(id);
      else sorter?.deactivate(id);
    }
    this.pairsVersion++;
    this.headroomDirty = true;
  }

  private refreshTotals(): void {
    if (!this.totalsDirty) return;
    this.totalsDirty = false;
    this.roleSorter.updateTotal(this.clusterTotal);
    for (const r of this.roles.values()) r.frameworks.updateTotal(this.clusterTotal);
  }

  /** The weighted dominant share of a role (for tests and /state). */
  roleShare(role: string): number {
    this.refreshTotals();
    return dominantShare(this.roleSorter.allocation(role), this.clusterTotal);
  }

  /** Sum of every agent's allocations, for invariant checks in tests. */
  allocatedOn(agentId: string): Resources {
    const agent = this.agents.get(agentId);
    let total: Resources = [];
    for (const r of agent?.allocations.values() ?? []) total = add(total, r);
    return total;
  }
}

/**
 * Caps the scalar kinds named in `caps` (default: every kind in `cap`) at `cap`, taking reserved
 * entries before unreserved ones; other kinds pass whole. Returns `resources` itself when nothing
 * was cut, so callers can tell.
 */
export function chop(resources: Resources, cap: Scalars, kinds: readonly string[] = Object.keys(cap)): Resources {
  if (kinds.length === 0) return resources;
  const left: Scalars = {};
  for (const k of kinds) left[k] = cap[k] ?? 0;
  let cut = false;
  const out: Resource[] = [];
  const ordered = [...resources].sort((a, b) => (a.role === '*' ? 1 : 0) - (b.role === '*' ? 1 : 0));
  for (const r of ordered) {
    const budget = left[r.name];
    if (r.kind !== 'scalar' || budget === undefined) {
      out.push(r);
      continue;
    }
    const take = Math.min(r.scalar ?? 0, budget);
    left[r.name] = Math.round((budget - take) * 1000) / 1000;
    if (take < (r.scalar ?? 0)) cut = true;
    if (take > 0) out.push({ ...r, scalar: take });
  }
  return cut ? add([], out) : resources;
}

export { addScalars, type RoleExplanation };
