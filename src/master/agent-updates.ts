/**
 * The latest agent-made status update the master relayed for each task of a framework, kept until
 * the framework acknowledges its uuid, and sent again (same uuid, so the acknowledgement still
 * reaches the agent) when the framework re-subscribes. A framework that was not connected when an
 * update was relayed (after a master restart or failover, the agents re-register and resend their
 * unacknowledged updates before frameworks are back) thus gets it at once, not at the agent's next
 * retry (10 s, doubling). The agent stays the owner of delivery: it resends until acknowledged
 * whatever is kept here, so an update evicted past the bound is delayed, never lost.
 *
 * An agent sends only the head of each task's queue, so one update per task is enough; a newer
 * one of the task replaces it. Kept per framework by the tasks book (tasks.ts), their only writer.
 */
import type { TaskStatus } from '../common/tasks.js';

/** At most this many tasks' updates per framework; the oldest go first (their agents still resend them). */
export const AGENT_UPDATES_KEPT = 10_000;

export class PendingAgentUpdates {
  /** By task id; insertion order is relay order (a task's newer update moves it to the end). */
  private readonly byTask = new Map<string, TaskStatus>();

  constructor(private readonly limit = AGENT_UPDATES_KEPT) {}

  /** Keeps an update (one without a uuid is not kept: nothing acknowledges it) as its task's latest; returns the one evicted to make room, if any. */
  note(status: TaskStatus): TaskStatus | undefined {
    if (!status.uuid) return undefined;
    this.byTask.delete(status.taskId);
    this.byTask.set(status.taskId, status);
    if (this.byTask.size <= this.limit) return undefined;
    const [taskId, oldest] = this.byTask.entries().next().value as [string, TaskStatus];
    this.byTask.delete(taskId);
    return oldest;
  }

  /** Forgets the task's update when it has this uuid; false (a no-op) otherwise: a stale or repeated acknowledgement. */
  acknowledge(taskId: string, uuid: string): boolean {
    if (this.byTask.get(taskId)?.uuid !== uuid) return false;
    this.byTask.delete(taskId);
    return true;
  }

  /** Every kept update, in the order they were relayed. */
  all(): TaskStatus[] {
    return [...this.byTask.values()];
  }

  get size(): number {
    return this.byTask.size;
  }
}
