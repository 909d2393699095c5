/**
 * The master's in-memory records of agents, frameworks, tasks and outstanding offers. Plain data:
 * no stream, timer or socket (live streams are the rpc layer's session table). Each kind has one
 * writer, its book (agents.ts, frameworks.ts, tasks.ts, offer-book.ts); everyone else reads them
 * through the books' queries.
 */
import type { AgentInfo, FrameworkInfo, Offer } from '../common/cluster.js';
import type { TaskSpec, TaskState, TaskStatus } from '../common/tasks.js';
import type { AgentState, DrainState } from './agent-lifecycle.js';
import type { FrameworkState } from './framework-lifecycle.js';

export { TASK_STATUS_HISTORY } from '../common/tasks.js';

export interface TaskRecord {
  spec: TaskSpec;
  frameworkId: string;
  agentId: string;
  state: TaskState;
  /** Oldest first, at most TASK_STATUS_HISTORY. */
  statuses: TaskStatus[];
  healthy?: boolean;
  /** The agent's container for this run, learned from its first status. */
  containerId?: string;
  /**
   * When the master accepted the launch (ms since the epoch); after a master restart, what the
   * agent reports of it (see reported-task.ts).
   */
  createdAt: number;
}

export interface AgentRecord {
  info: AgentInfo;
  state: AgentState;
  drain: DrainState;
  /** The peer's IP address, as the master saw it at the last (re-)registration. */
  address: string;
  registeredAt: number;
  lastHeartbeatAt: number;
}

export interface FrameworkRecord {
  info: FrameworkInfo;
  state: FrameworkState;
  /** The current subscription's stream; calls from any other are refused. */
  streamId: string | undefined;
  registeredAt: number;
  disconnectedAt: number | undefined;
}

export interface OfferRecord {
  offer: Offer;
  createdAt: number;
}

/** Task ids are unique within a framework; the master keys tasks by both. */
export function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}/${taskId}`;
}

/** The role a task's resources are accounted to: its offer's ('*' for tasks of older agents). */
export function roleOf(task: TaskRecord): string {
  return task.spec.allocationRole || '*';
}
