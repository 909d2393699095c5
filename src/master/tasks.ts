/**
 * The tasks book: every active task by framework and by agent, what they use, the ended ones kept
 * per framework, and the updates each framework has not acknowledged yet (master-made ones, and
 * the latest agent-made one of each task). The only writer of TaskRecords; a task moves only
 * through `apply`, which checks the task state machine.
 */
import { add, EMPTY, subtract, type Resources } from '../common/resources.js';
import { checkTransition } from '../common/task-transitions.js';
import { isTerminal, type TaskSpec, type TaskState, type TaskStatus } from '../common/tasks.js';
import { PendingAgentUpdates } from './agent-updates.js';
import { PendingMasterUpdates } from './master-updates.js';
import { taskKey, TASK_STATUS_HISTORY, type TaskRecord } from './records.js';

/** What a status did to its task. */
export type Applied =
  /** The state machine refused it (a late retry of an earlier state, say): nothing changed. */
  | 'refused'
  /** The task moved (or only its health or history changed). */
  | 'moved'
  /** The update is in the task's history already (resent until acknowledged, or reported at re-registration): nothing changed. */
  | 'known'
  /** The task reached a terminal state: it left the active books and its resources are free. */
  | 'ended';

export class TaskBook {
  private readonly byFramework = new Map<string, Map<string, TaskRecord>>();
  private readonly byAgent = new Map<string, Map<string, TaskRecord>>();
  private readonly usedOnAgent = new Map<string, Resources>();
  private readonly usedByFramework = new Map<string, Resources>();
  private readonly ended = new Map<string, TaskRecord[]>();
  private readonly pending = new Map<string, PendingMasterUpdates>();
  private readonly agentPending = new Map<string, PendingAgentUpdates>();

  /** `completedLimit`: ended tasks kept per framework (Mesos keeps 1000). */
  constructor(private readonly completedLimit: number) {}

  /** A task staged by an accept, or found on an agent that re-registered. */
  add(frameworkId: string, agentId: string, spec: TaskSpec, state: TaskState, now: number): TaskRecord {
    const task: TaskRecord = { spec, frameworkId, agentId, state, statuses: [], createdAt: now };
    index(this.byFramework, frameworkId).set(spec.taskId, task);
    index(this.byAgent, agentId).set(taskKey(frameworkId, spec.taskId), task);
    this.usedOnAgent.set(agentId, add(this.usedOn(agentId), spec.resources));
    this.usedByFramework.set(frameworkId, add(this.usedBy(frameworkId), spec.resources));
    return task;
  }

  /**
   * What a re-registering agent reported of a task this master did not hold (see
   * reported-task.ts): when its launch was accepted, its recent statuses and its health. Only for
   * a task just added, before any status is applied to it.
   */
  restore(task: TaskRecord, facts: { createdAt: number; statuses: readonly TaskStatus[]; healthy?: boolean }): void {
    task.createdAt = facts.createdAt;
    task.statuses = facts.statuses.slice(-TASK_STATUS_HISTORY);
    if (facts.healthy !== undefined) task.healthy = facts.healthy;
  }

  /**
   * A task that ended while no master heard of it (it ended while none led, or while its agent was
   * cut off from this one): a re-registering agent reports it with its terminal status, which the
   * framework has not acknowledged yet, and its facts (see reported-task.ts). Kept at once among
   * the framework's ended tasks; it never enters the active books, so its resources are not
   * counted as used. Throws for a state that is not terminal (a caller's bug).
   */
  addEnded(frameworkId: string, agentId: string, spec: TaskSpec, state: TaskState, facts: { createdAt: number; statuses: readonly TaskStatus[]; healthy?: boolean }, containerId?: string): TaskRecord {
    if (!isTerminal(state)) throw new Error(`task '${spec.taskId}' of framework '${frameworkId}' is ${state}: only an ended task is added as ended`);
    const task: TaskRecord = { spec, frameworkId, agentId, state, statuses: [], createdAt: facts.createdAt };
    if (containerId) task.containerId = containerId;
    this.restore(task, facts);
    this.keepEnded(task);
    return task;
  }

  /** The framework's active task with this id. */
  get(frameworkId: string, taskId: string): TaskRecord | undefined {
    return this.byFramework.get(frameworkId)?.get(taskId);
  }

  /** The newest ended run of a task id (ids may be reused once a run has ended). */
  lastEnded(frameworkId: string, taskId: string): TaskRecord | undefined {
    return this.ended.get(frameworkId)?.findLast((t) => t.spec.taskId === taskId);
  }

  /** The framework's active tasks. */
  ofFramework(frameworkId: string): IterableIterator<TaskRecord> {
    return (this.byFramework.get(frameworkId) ?? NONE).values();
  }

  /** The active tasks on an agent, keyed by `taskKey`. */
  onAgent(agentId: string): ReadonlyMap<string, TaskRecord> {
    return this.byAgent.get(agentId) ?? NONE;
  }

  /** The framework's ended tasks, oldest first (at most the completed limit). */
  endedOf(frameworkId: string): readonly TaskRecord[] {
    return this.ended.get(frameworkId) ?? [];
  }

  usedOn(agentId: string): Resources {
    return this.usedOnAgent.get(agentId) ?? EMPTY;
  }

  usedBy(frameworkId: string): Resources {
    return this.usedByFramework.get(frameworkId) ?? EMPTY;
  }

  /**
   * Moves a task by a status. A terminal one takes it out of the active books (the caller gives
   * its resources back to the allocator). An update already in the history (resent until
   * acknowledged, possibly after later ones) changes nothing: it was applied when it first came.
   */
  apply(task: TaskRecord, status: TaskStatus): Applied {
    if (status.uuid && task.statuses.some((s) => s.uuid === status.uuid)) return 'known';
    if (!checkTransition(task.state, status.state).ok) return 'refused';
    task.state = status.state;
    if (status.healthy !== undefined) task.healthy = status.healthy;
    task.statuses.push(status);
    if (task.statuses.length > TASK_STATUS_HISTORY) task.statuses.shift();
    if (!isTerminal(status.state)) return 'moved';
    this.finish(task);
    return 'ended';
  }

  /** Learns a task's container from its first status that names one. */
  noteContainer(task: TaskRecord, containerId: string): void {
    task.containerId ??= containerId;
  }

  /** The master-made updates of a framework not acknowledged yet (see master-updates.ts). */
  masterUpdates(frameworkId: string): PendingMasterUpdates {
    return index(this.pending, frameworkId, () => new PendingMasterUpdates());
  }

  /** The latest agent-made update of each of the framework's tasks, not acknowledged yet (see agent-updates.ts). */
  agentUpdates(frameworkId: string): PendingAgentUpdates {
    return index(this.agentPending, frameworkId, () => new PendingAgentUpdates());
  }

  /** Forgets everything of a framework no longer shown anywhere (its active tasks must have ended). */
  forgetFramework(frameworkId: string): void {
    this.ended.delete(frameworkId);
    this.dropPendingUpdates(frameworkId);
    this.byFramework.delete(frameworkId);
    this.usedByFramework.delete(frameworkId);
  }

  /** Forgets the (empty) indexes of an agent that is gone. */
  forgetAgent(agentId: string): void {
    if (this.byAgent.get(agentId)?.size) return;
    this.byAgent.delete(agentId);
    this.usedOnAgent.delete(agentId);
  }

  /** Stops keeping a framework's unacknowledged updates, master- and agent-made (it was removed: nobody will read them). */
  dropPendingUpdates(frameworkId: string): void {
    this.pending.delete(frameworkId);
    this.agentPending.delete(frameworkId);
  }

  private finish(task: TaskRecord): void {
    const { frameworkId, agentId } = task;
    // The indexes stay when they empty: an agent or framework usually gets its next task soon.
    const onAgent = this.byAgent.get(agentId);
    if (onAgent?.delete(taskKey(frameworkId, task.spec.taskId))) {
      this.usedOnAgent.set(agentId, onAgent.size === 0 ? EMPTY : subtract(this.usedOn(agentId), task.spec.resources));
    }
    const ofFramework = this.byFramework.get(frameworkId);
    if (ofFramework?.delete(task.spec.taskId)) {
      this.usedByFramework.set(frameworkId, ofFramework.size === 0 ? EMPTY : subtract(this.usedBy(frameworkId), task.spec.resources));
    }
    this.keepEnded(task);
  }

  /** Among the framework's ended tasks, newest last; the oldest goes past the completed limit. */
  private keepEnded(task: TaskRecord): void {
    const ended = index(this.ended, task.frameworkId, () => []);
    ended.push(task);
    if (ended.length > this.completedLimit) ended.shift();
  }
}

const NONE: ReadonlyMap<string, TaskRecord> = new Map();

function index<V>(map: Map<string, V>, key: string, make: () => V = () => new Map() as V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}
