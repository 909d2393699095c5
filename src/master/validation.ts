/**
 * Accept validation, pure. The same `fits()` the allocator used to size the offer decides whether
 * a task fits it now (STYLE.md 3). Outcomes are values: the master turns a refusal into a status
 * update (TASK_DROPPED for a bad offer, TASK_ERROR for a bad task), never a thrown error.
 */
import { fits, formatResources, scalar, type Resources, type Shortfall } from '../common/resources.js';
import type { StatusReason, TaskSpec } from '../common/tasks.js';
import type { OfferRecord } from './records.js';

export type Check<T = object> = ({ ok: true } & T) | { ok: false; reason: StatusReason; message: string };

/** Checks that every offer exists, is this framework's, and all are on one agent. */
export function checkOffers(
  offerIds: readonly string[],
  frameworkId: string,
  lookup: (offerId: string) => OfferRecord | undefined,
): Check<{ offers: OfferRecord[]; agentId: string }> {
  if (offerIds.length === 0) return { ok: false, reason: 'INVALID_OFFER', message: 'an accept needs at least one offer' };
  const offers: OfferRecord[] = [];
  const seen = new Set<string>();
  for (const id of offerIds) {
    if (seen.has(id)) return { ok: false, reason: 'INVALID_OFFER', message: `offer '${id}' is listed twice` };
    seen.add(id);
    const record = lookup(id);
    if (!record) {
      return { ok: false, reason: 'INVALID_OFFER', message: `offer '${id}' is no longer valid (unknown, rescinded, declined or already used)` };
    }
    if (record.offer.frameworkId !== frameworkId) {
      return { ok: false, reason: 'INVALID_OFFER', message: `offer '${id}' was made to another framework` };
    }
    offers.push(record);
  }
  const agentId = offers[0]?.offer.agentId ?? '';
  const other = offers.find((o) => o.offer.agentId !== agentId);
  if (other) {
    return { ok: false, reason: 'INVALID_OFFER', message: `offers span agents '${agentId}' and '${other.offer.agentId}'; one accept uses offers of one agent` };
  }
  const role = offers[0]?.offer.role;
  const otherRole = offers.find((o) => o.offer.role !== role);
  if (otherRole) {
    return { ok: false, reason: 'INVALID_OFFER', message: `offers are allocated to roles '${role}' and '${otherRole.offer.role}'; one accept uses offers of one role` };
  }
  return { ok: true, offers, agentId };
}

export interface TaskCheckContext {
  agentId: string;
  agentContainerizers: readonly string[];
  /** What is left of the accepted offers after the tasks before this one. */
  available: Resources;
  /** Is this id taken by an active task of the framework, or earlier in the same accept? */
  isTaskIdTaken: (taskId: string) => boolean;
}

/** Describes shortfalls as `mem: requested 512, available 256`. */
export function describeShortfalls(reasons: readonly Shortfall[]): string {
  return reasons.map((r) => `${r.resource}: requested ${r.requested}, available ${r.available}`).join('; ');
}

/** Checks one task of a LAUNCH against its offer and framework. */
export function checkTask(task: TaskSpec, ctx: TaskCheckContext): Check {
  const invalid = (message: string): Check => ({ ok: false, reason: 'TASK_INVALID', message });
  if (ctx.isTaskIdTaken(task.taskId)) return invalid(`task id '${task.taskId}' is already used by an active task of this framework`);
  if (task.agentId && task.agentId !== ctx.agentId) {
    return invalid(`task '${task.taskId}' names agent '${task.agentId}' but the offer is on agent '${ctx.agentId}'`);
  }
  if (!(scalar(task.resources, 'cpus') > 0 || scalar(task.resources, 'mem') > 0)) {
    return invalid(`task '${task.taskId}' asks for '${formatResources(task.resources)}'; a task needs some cpus or mem`);
  }
  if (!ctx.agentContainerizers.includes(task.container.kind)) {
    return invalid(`task '${task.taskId}' is a ${task.container.kind} task but agent '${ctx.agentId}' runs only ${ctx.agentContainerizers.join(', ') || 'nothing'}`);
  }
  const fit = fits(task.resources, ctx.available);
  if (!fit.ok) return invalid(`task '${task.taskId}' does not fit the offer: ${describeShortfalls(fit.reasons)}`);
  return { ok: true };
}
