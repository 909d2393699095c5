/**
 * Status updates the master makes on its own (a launch dropped at accept or at re-registration, a
 * task lost with its agent's checkpoint, tasks made UNREACHABLE or GONE with their agent, killed at
 * a teardown), kept per framework until the framework acknowledges their uuid, and sent again after
 * every re-subscription. They reach the framework at least once, as agent-made updates do; the
 * framework acts on a uuid once. (Reconciliation answers are not kept: asking again answers again.)
 *
 * Kept per framework by the tasks book (tasks.ts), their only writer.
 */
import type { TaskStatus } from '../common/tasks.js';
import { isTerminal } from '../common/tasks.js';

/** At most this many unacknowledged master-made updates per framework; the oldest go first. */
export const MASTER_UPDATES_KEPT = 10_000;

export class PendingMasterUpdates {
  /** Insertion order is send order, so each task's updates stay in the order they were made. */
  private readonly byUuid = new Map<string, TaskStatus>();
  /** uuids per task id, so superseding costs nothing on the hot path when a task has none. */
  private readonly byTask = new Map<string, Set<string>>();

  constructor(private readonly limit = MASTER_UPDATES_KEPT) {}

  /** Keeps an update (it must carry a uuid); returns the update evicted to make room, if any. */
  add(status: TaskStatus & { uuid: string }): TaskStatus | undefined {
    this.byUuid.set(status.uuid, status);
    let uuids = this.byTask.get(status.taskId);
    if (!uuids) this.byTask.set(status.taskId, (uuids = new Set()));
    uuids.add(status.uuid);
    if (this.byUuid.size <= this.limit) return undefined;
    const oldest = this.byUuid.values().next().value as TaskStatus;
    this.remove(oldest);
    return oldest;
  }

  /** Forgets the update with this uuid; false when it is not kept (an agent-made update's uuid, or a repeat). */
  acknowledge(uuid: string): boolean {
    const status = this.byUuid.get(uuid);
    if (!status) return false;
    this.remove(status);
    return true;
  }

  /**
   * A newer update of this task went to the framework: the master's earlier non-terminal ones
   * (UNREACHABLE, say) would only move it backwards if sent again. A no-op for tasks with none.
   */
  supersede(taskId: string): void {
    const uuids = this.byTask.get(taskId);
    if (!uuids) return;
    for (const uuid of [...uuids]) {
      const status = this.byUuid.get(uuid)!;
      if (!isTerminal(status.state)) this.remove(status);
    }
  }

  /** Every kept update, oldest first. */
  all(): TaskStatus[] {
    return [...this.byUuid.values()];
  }

  get size(): number {
    return this.byUuid.size;
  }

  private remove(status: TaskStatus): void {
    const uuid = status.uuid!;
    this.byUuid.delete(uuid);
    const uuids = this.byTask.get(status.taskId);
    uuids?.delete(uuid);
    if (uuids?.size === 0) this.byTask.delete(status.taskId);
  }
}
