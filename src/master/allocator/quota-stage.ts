/**
 * Quota in the allocator (Mesos' quota and headroom): the first stage of a cycle, where roles with an
 * unmet guarantee get offers sized to what they still miss before anyone else, and the two caps the
 * fair-share stage applies to every candidate — a role's limit, and the headroom other roles' unmet
 * guarantees need. Pure like the rest of the allocator: it reads the allocator's books through
 * `QuotaBooks` and offers through a callback.
 */
import { add, subtract, type Resource, type Resources } from '../../common/resources.js';
import { addNormalized, forRoleNormalized, subtractNormalized, unreservedNormalized } from '../../common/resource-merge.js';
import { accumulate, scalarsEmpty, shortfall, subtractScalars, toScalars, type Scalars } from '../../common/scalars.js';
import { isOfferable, offerable } from './offerable.js';

/** A role's quota: a guarantee held for it and a limit it never exceeds (scalars; empty = none). */
export interface Quota {
  guarantee: Scalars;
  limit: Scalars;
}

/** What quota reads of the allocator's books. */
export interface QuotaBooks {
  /** What a role holds (offered and used). */
  allocation(role: string): Scalars;
  /** Whether some framework of the role wants offers now: a guarantee only counts with demand. */
  wantsOffers(role: string): boolean;
  /** Unreserved, unallocated scalars on active agents: what headroom is measured against. */
  unreservedFree(): Scalars;
}

/** What the quota stage reads of an agent. */
export interface QuotaAgent {
  active: boolean;
  /** Unallocated resources, normalised. */
  available: Resources;
  /** Scalars of `available`, all roles. */
  availableScalars: Scalars;
}

/**
 * Every role's quota, and the headroom bookkeeping: what each quota role with demand still misses
 * of its guarantee, and the sum. Kept incrementally as roles' holdings change, recomputed only when
 * demand or quota changes, so a headroom check costs O(kinds), not O(roles).
 */
export class QuotaStage {
  private readonly quotas = new Map<string, Quota>();
  private headroomDirty = true;
  private readonly missingBy = new Map<string, Scalars>();
  private missingTotal: Scalars = {};

  constructor(private readonly books: QuotaBooks) {}

  /** A role's quota (undefined for none). */
  get(role: string): Quota | undefined {
    return this.quotas.get(role);
  }

  /** Sets (or with undefined, removes) a role's quota. */
  set(role: string, quota: Quota | undefined): void {
    if (quota) this.quotas.set(role, quota);
    else this.quotas.delete(role);
    this.headroomDirty = true;
  }

  /** Which frameworks want offers changed: the headroom is recomputed at its next use. */
  demandChanged(): void {
    this.headroomDirty = true;
  }

  /** A role's holdings changed: move its part of the headroom total; a no-op for roles without quota. */
  holdingsChanged(role: string): void {
    if (this.headroomDirty || !this.quotas.has(role)) return;
    const before = this.missingBy.get(role) ?? {};
    const after = this.missing(role);
    accumulate(this.missingTotal, before, -1);
    accumulate(this.missingTotal, after, 1);
    this.missingBy.set(role, after);
  }

  /**
   * The quota stage: walks `roles` in order and, for each with quota and demand, the agents in
   * `order`, handing `offer` candidates capped at what the role still misses (and within its limit
   * and other roles' headroom). `offer` returns what it offered, or undefined when every framework
   * of the role refused the candidate.
   */
  allocate<A extends QuotaAgent>(order: readonly A[], roles: readonly string[], offer: (agent: A, role: string, candidate: Resources) => Resources | undefined): void {
    // Agents before `first` are inactive or have nothing offerable left. A cycle only takes
    // resources away, so they stay that way: later roles start their walk at `first`.
    let first = 0;
    for (const role of roles) {
      const quota = this.quotas.get(role);
      if (!quota || !this.books.wantsOffers(role)) continue;
      let need = shortfall(quota.guarantee, this.books.allocation(role));
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
        const candidate = this.withinHeadroom(role, this.limit(role, sized));
        if (!offerable(candidate)) continue;
        const offered = offer(agent, role, candidate);
        if (!offered) continue;
        need = shortfall(need, toScalars(offered));
      }
    }
  }

  /** Caps a role's candidate at what its quota limit still allows; returns `candidate` itself when uncut. */
  limit(role: string, candidate: Resources): Resources {
    const limit = this.quotas.get(role)?.limit;
    if (!limit || Object.keys(limit).length === 0) return candidate;
    return chop(candidate, shortfall(limit, this.books.allocation(role)), Object.keys(limit));
  }

  /**
   * Caps the unreserved part of a candidate so what stays free still covers the unmet guarantees
   * of other roles that want offers (their headroom). Reserved resources are the role's own.
   * Returns `candidate` itself when uncut.
   */
  withinHeadroom(role: string, candidate: Resources): Resources {
    this.refreshHeadroom();
    if (scalarsEmpty(this.missingTotal)) return candidate; // no unmet guarantees at all
    const required = subtractScalars(this.missingTotal, this.missingBy.get(role) ?? {});
    if (scalarsEmpty(required)) return candidate;
    const slack = subtractScalars(this.books.unreservedFree(), required);
    const free = unreservedNormalized(candidate);
    const kept = chop(free, slack, Object.keys(required));
    // `free` is a part of `candidate`, so the subtraction cannot fail.
    return kept === free ? candidate : addNormalized(subtractNormalized(candidate, free) ?? subtract(candidate, free), kept);
  }

  /** What a quota role with demand still misses of its guarantee (nothing without demand). */
  private missing(role: string): Scalars {
    const quota = this.quotas.get(role);
    if (!quota || !this.books.wantsOffers(role)) return {};
    return shortfall(quota.guarantee, this.books.allocation(role));
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
}

/**
 * Caps the scalar kinds named in `kinds` (default: every kind in `cap`) at `cap`, taking reserved
 * entries before unreserved ones; other kinds pass whole. Returns `resources` itself when nothing
 * was cut, so callers can tell.
 */
function chop(resources: Resources, cap: Scalars, kinds: readonly string[] = Object.keys(cap)): Resources {
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
