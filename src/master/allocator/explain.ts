/**
 * Why a role got no offer in the last cycle, in words an operator can act on. Mesos and Marathon
 * users could only guess ("offer starvation"); the allocator counts what stopped it and says so.
 */
import { describeAgainst, type Scalars } from '../../common/scalars.js';

/** What the last cycle saw for one role. */
export interface RoleStats {
  offers: number;
  /** Candidates refused by a decline filter. */
  filtered: number;
  /** The earliest expiry among those filters (ms since the epoch). */
  filteredUntil: number;
  /** Agents where the role's quota limit left nothing to offer. */
  limited: number;
  /** Agents where other roles' guarantees held the resources back. */
  headroom: number;
}

export interface RoleExplanation {
  offers: number;
  /** Empty when the role got offers. */
  reasons: string[];
}

export function newRoleStats(): RoleStats {
  return { offers: 0, filtered: 0, filteredUntil: Infinity, limited: 0, headroom: 0 };
}

export interface RoleContext {
  /** Frameworks subscribed with the role. */
  members: number;
  /** Of those, the ones that want offers (connected, not suppressed). */
  wanting: number;
  quota: { guarantee: Scalars; limit: Scalars } | undefined;
  allocation: Scalars;
  /** Agents skipped whole because every framework there had declined them. */
  skippedAgents: number;
}

export function explainRole(stats: RoleStats, ctx: RoleContext): RoleExplanation {
  if (stats.offers > 0) return { offers: stats.offers, reasons: [] };
  const reasons: string[] = [];
  if (ctx.members === 0) reasons.push('no framework is subscribed with this role');
  else if (ctx.wanting === 0) reasons.push('every framework of this role is suppressed or disconnected');
  else {
    if (stats.limited > 0 && ctx.quota) reasons.push(`quota limit reached (${describeAgainst(ctx.allocation, ctx.quota.limit)})`);
    if (stats.filtered > 0) {
      reasons.push(`declined by its frameworks on ${stats.filtered} agent(s); filtered until ${new Date(stats.filteredUntil).toISOString()}`);
    }
    if (ctx.skippedAgents > 0) reasons.push(`${ctx.skippedAgents} agent(s) skipped: every framework that could use them has declined them`);
    if (stats.headroom > 0) reasons.push(`held back on ${stats.headroom} agent(s) for other roles' quota guarantees`);
    if (reasons.length === 0) reasons.push('no agent has resources this role may use (an offer needs at least cpus 0.01 or mem 32 MiB)');
  }
  return { offers: 0, reasons };
}
