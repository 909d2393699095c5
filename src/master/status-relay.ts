/**
 * Task states reaching frameworks: a status applied to its task (its resources freed when it
 * ends, a draining agent marked drained with its last task), statuses the master decides on its
 * own (kept until acknowledged and sent again at every re-subscription, see master-updates.ts),
 * agents' updates (each task's latest kept until acknowledged and sent again at every
 * re-subscription, see agent-updates.ts), and plain relays (reconciliation answers).
 */
import type { Allocator } from './allocator/allocator.js';
import type { AgentBook } from './agents.js';
import type { Effects } from './effects.js';
import { roleOf, type TaskRecord } from './records.js';
import type { TaskBook } from './tasks.js';
import { newUpdateUuid } from '../common/ids.js';
import { formatResources, type Resources } from '../common/resources.js';
import type { StatusReason, TaskState, TaskStatus } from '../common/tasks.js';
import type { Applied } from './tasks.js';

/** Gives resources back to the allocator; a disagreement between the books is logged, never papered over. */
export function recoverResources(allocator: Allocator, effects: Effects, agentId: string, frameworkId: string, role: string, resources: Resources, refuseUntil?: number): void {
  if (!allocator.recover(agentId, frameworkId, role, resources, refuseUntil)) {
    effects.log.error({ agentId, frameworkId, role, resources: formatResources(resources) }, 'the allocator does not hold these resources for the framework; not recovered');
  }
}

export class StatusRelay {
  constructor(
    private readonly tasks: TaskBook,
    private readonly agents: AgentBook,
    private readonly allocator: Allocator,
    private readonly effects: Effects,
  ) {}

  /** Moves a task by a status; when it ends, frees its resources and tells the operators' event list. */
  apply(task: TaskRecord, status: TaskStatus): Applied {
    const applied = this.tasks.apply(task, status);
    if (applied !== 'ended') return applied;
    recoverResources(this.allocator, this.effects, task.agentId, task.frameworkId, roleOf(task), task.spec.resources);
    const agent = this.agents.get(task.agentId);
    if (agent?.drain === 'draining' && this.tasks.onAgent(agent.info.id).size === 0) {
      this.agents.setDrain(agent, 'drained');
      this.effects.log.info({ agentId: agent.info.id }, 'agent drained: all its tasks have ended');
    }
    this.announceEnd(task, status);
    return applied;
  }

  /** Tells the operators' event list that a task ended other than FINISHED; a no-op for FINISHED. */
  announceEnd(task: TaskRecord, status: TaskStatus): void {
    if (status.state === 'FINISHED') return;
    const message = `task ${task.spec.taskId} ${status.state}${status.message ? `: ${status.message}` : ''}`;
    this.effects.event('task-ended', message, { agentId: task.agentId, frameworkId: task.frameworkId, taskId: task.spec.taskId, state: status.state });
  }

  /**
   * A state the master decides on its own: applied to the task, then sent to its framework
   * reliably. False, with nothing sent, when the task's state machine refuses it.
   */
  decide(task: TaskRecord, state: TaskState, reason: StatusReason, message: string, healthy?: boolean): boolean {
    const status: TaskStatus = {
      ...this.masterStatus(task, state, reason, message),
      ...(healthy !== undefined ? { healthy } : {}),
      uuid: newUpdateUuid(),
    };
    if (this.apply(task, status) === 'refused') return false;
    this.sendReliably(status);
    return true;
  }

  /**
   * Sends a master-made status (given a uuid if it has none) and keeps it until the framework
   * acknowledges it; the task's earlier non-terminal master-made ones are dropped.
   */
  sendReliably(status: TaskStatus): void {
    const made = { ...status, uuid: status.uuid || newUpdateUuid() };
    const pending = this.tasks.masterUpdates(made.frameworkId);
    pending.supersede(made.taskId);
    const evicted = pending.add(made);
    if (evicted) {
      this.effects.log.warn({ frameworkId: made.frameworkId, taskId: evicted.taskId, state: evicted.state }, 'too many unacknowledged master-made updates; the oldest is no longer kept for redelivery');
    }
    this.send(made);
  }

  /**
   * Sends an agent's update of a task the master knows (active, or its ended run) and keeps it as
   * the task's latest until the framework acknowledges it: a framework that is not connected now
   * gets it when it re-subscribes, not at the agent's next retry.
   */
  sendFromAgent(status: TaskStatus): void {
    this.tasks.agentUpdates(status.frameworkId).note(status);
    this.send(status);
  }

  /** Sends a status as it is (an agent's update of a task the master does not know, a reconciliation answer): nothing is kept. */
  send(status: TaskStatus): void {
    this.effects.metrics.statusUpdateRelayed(status.source);
    this.effects.toFramework(status.frameworkId, { type: 'update', status });
  }

  /** Tells a framework the master knows no such task and expects it on no agent: LOST, TASK_UNKNOWN. Nothing is kept. */
  sendUnknown(frameworkId: string, taskId: string, agentId: string, message: string): void {
    this.send({ taskId, frameworkId, agentId, state: 'LOST', source: 'MASTER', reason: 'TASK_UNKNOWN', message, timestamp: this.effects.clock.now() });
  }

  /**
   * What the framework has not acknowledged, in order: its tasks' latest agent-made updates, then
   * what the master decided. Agent-made ones go first: a master-made update kept with one is the
   * newer (an agent's update drops the master's earlier non-terminal ones of its task), so each
   * task's updates still arrive in the order they were made.
   */
  resend(frameworkId: string): void {
    for (const status of this.tasks.agentUpdates(frameworkId).all()) this.send(status);
    for (const status of this.tasks.masterUpdates(frameworkId).all()) this.send(status);
  }

  /** A status the master makes about one of its tasks. */
  masterStatus(task: TaskRecord, state: TaskState, reason: StatusReason, message: string): TaskStatus {
    return { taskId: task.spec.taskId, frameworkId: task.frameworkId, agentId: task.agentId, state, source: 'MASTER', reason, message, timestamp: this.effects.clock.now() };
  }

  /** The task's latest state as the master knows it, for a reconciliation or a repeated kill. */
  latest(task: TaskRecord, reason: StatusReason): TaskStatus {
    const last = task.statuses.at(-1);
    return {
      ...this.masterStatus(task, task.state, reason, last?.message ?? ''),
      ...(task.healthy !== undefined ? { healthy: task.healthy } : {}),
      ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    };
  }
}
