/**
 * The allocator's books on agents: each agent's total and available resources, what each framework
 * and role holds there, its decline filters, and the cluster-wide sums kept as agents change (so a
 * cycle never re-adds every agent). Every Resources value kept here is normalised, so the books use
 * the linear merges of resource-merge.ts.
 */
import { add, subtract, type Resources } from '../../common/resources.js';
import { addNormalized, asNormalized, containsNormalized, sameTextForm, subtractNormalized, unreservedScalars } from '../../common/resource-merge.js';
import { accumulate, toScalars, type Scalars } from '../../common/scalars.js';

/** A decline filter: its framework is not offered `resources` (or a part of them) here before `expiresAt`. */
export interface Filter {
  resources: Resources;
  expiresAt: number;
}

/** One agent in the books. */
export interface AgentEntry {
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

/** The key of what one framework holds in one role on an agent. */
const pair = (frameworkId: string, role: string) => `${frameworkId}\u0000${role}`;

/**
 * The decline filter by which a framework refuses `candidate` at `now` (from an agent's filters for
 * one role), or undefined when it has none that applies; an expired filter is dropped on the way.
 */
export function refusal(filters: Map<string, Filter> | undefined, frameworkId: string, candidate: Resources, now: number): Filter | undefined {
  const filter = filters?.get(frameworkId);
  if (filter === undefined) return undefined;
  if (filter.expiresAt <= now) {
    filters!.delete(frameworkId);
    return undefined;
  }
  // The text-form comparison is what filters always matched on (it ignores the dynamic flag).
  if (!sameTextForm(filter.resources, candidate) && !containsNormalized(filter.resources, candidate)) return undefined;
  return filter;
}

/** Agents in the order added, by id too; nothing here decides who gets what. */
export class AgentBook {
  private readonly byId = new Map<string, AgentEntry>();
  private list: AgentEntry[] = [];
  /** Scalars of every agent's total. Changed in place, never replaced. */
  readonly total: Scalars = {};
  /** Unreserved, unallocated scalars on active agents: what quota headroom is measured against. */
  readonly unreservedFree: Scalars = {};

  /** Number of agents. */
  get size(): number {
    return this.list.length;
  }

  /** An agent (undefined for unknown agents). */
  get(id: string): AgentEntry | undefined {
    return this.byId.get(id);
  }

  /** Adds an active agent with everything available; the caller removes one of the same id first. */
  add(id: string, total: Resources): AgentEntry {
    const whole = asNormalized(total);
    const agent: AgentEntry = { id, total: whole, available: whole, availableScalars: toScalars(whole), active: true, version: 0, skip: undefined, filters: new Map(), allocations: new Map() };
    this.byId.set(id, agent);
    this.list.push(agent);
    accumulate(this.total, toScalars(whole), 1);
    accumulate(this.unreservedFree, unreservedScalars(whole), 1);
    return agent;
  }

  /** Takes an agent out of the books; the caller releases its allocations first. */
  remove(agent: AgentEntry): void {
    if (agent.active) accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
    accumulate(this.total, toScalars(agent.total), -1);
    this.byId.delete(agent.id);
    this.list = this.list.filter((a) => a !== agent);
  }

  /** Offers resume on an agent; a no-op for unknown or active agents. */
  activate(id: string): void {
    const agent = this.byId.get(id);
    if (!agent || agent.active) return;
    agent.active = true;
    accumulate(this.unreservedFree, unreservedScalars(agent.available), 1);
  }

  /** No offers from an agent until activated; a no-op for unknown or inactive agents. */
  deactivate(id: string): void {
    const agent = this.byId.get(id);
    if (!agent || !agent.active) return;
    agent.active = false;
    accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
  }

  /** Replaces an agent's unallocated resources (normalised), keeping the sums and bumping its version. */
  setAvailable(agent: AgentEntry, available: Resources): void {
    if (agent.active) {
      accumulate(this.unreservedFree, unreservedScalars(agent.available), -1);
      accumulate(this.unreservedFree, unreservedScalars(available), 1);
    }
    agent.available = available;
    agent.availableScalars = toScalars(available);
    agent.version++;
  }

  /** Adds normalised `resources` to what a framework holds on an agent in a role (`available` is the caller's). */
  allocated(agent: AgentEntry, frameworkId: string, role: string, resources: Resources): void {
    const key = pair(frameworkId, role);
    agent.allocations.set(key, addNormalized(agent.allocations.get(key) ?? [], resources));
  }

  /**
   * Takes normalised `resources` out of what a framework holds on an agent in a role (`available` is
   * the caller's); returns false, changing nothing, when it holds less.
   */
  unallocated(agent: AgentEntry, frameworkId: string, role: string, resources: Resources): boolean {
    const key = pair(frameworkId, role);
    const left = subtractNormalized(agent.allocations.get(key) ?? [], resources);
    if (left === undefined) return false;
    if (left.length === 0) agent.allocations.delete(key);
    else agent.allocations.set(key, left);
    return true;
  }

  /** Converts what a framework holds on an agent in place (a RESERVE or UNRESERVE): the agent's total changes the same way. */
  convert(agent: AgentEntry, frameworkId: string, role: string, from: Resources, to: Resources): void {
    const key = pair(frameworkId, role);
    agent.allocations.set(key, add(subtract(agent.allocations.get(key) ?? [], from), to));
    agent.total = add(subtract(agent.total, from), to);
  }

  /** What each framework holds on an agent, one entry per framework and role. */
  *holdings(agent: AgentEntry): Generator<{ frameworkId: string; role: string; resources: Resources }> {
    for (const [key, resources] of agent.allocations) {
      const [frameworkId, role] = key.split('\u0000') as [string, string];
      yield { frameworkId, role, resources };
    }
  }

  /** Sum of everything held on an agent (empty for unknown agents). */
  allocatedOn(id: string): Resources {
    let total: Resources = [];
    for (const r of this.byId.get(id)?.allocations.values() ?? []) total = add(total, r);
    return total;
  }

  /** Records a decline filter of a framework on an agent in a role, replacing its earlier one there. */
  addFilter(agent: AgentEntry, role: string, frameworkId: string, filter: Filter): void {
    let filters = agent.filters.get(role);
    if (filters === undefined) agent.filters.set(role, (filters = new Map()));
    filters.set(frameworkId, filter);
  }

  /** Drops a framework's decline filters in the roles on every agent; a no-op where it has none. */
  removeFilters(frameworkId: string, roles: readonly string[]): void {
    for (const agent of this.list) for (const r of roles) agent.filters.get(r)?.delete(frameworkId);
  }

  /** Every agent, starting at the `cycle % size`-th and wrapping around, so no agent is always first. */
  rotation(cycle: number): readonly AgentEntry[] {
    const n = this.list.length;
    if (n <= 1) return this.list;
    const start = cycle % n;
    return [...this.list.slice(start), ...this.list.slice(0, start)];
  }
}
