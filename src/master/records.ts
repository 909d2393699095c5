/**
 * The master's in-memory records of agents, frameworks, tasks and outstanding offers.
 * Plain data; the Master class is the only writer.
 */
import type { AgentInfo, FrameworkInfo, Offer } from '../common/cluster.js';
import type { Resources } from '../common/resources.js';
import type { TaskSpec, TaskState, TaskStatus } from '../common/tasks.js';
import type { PendingMasterUpdates } from './master-updates.js';
import type { AgentChannel, FrameworkChannel } from './ports.js';

/** How many statuses of a task the master keeps for `orbit task` and /state. */
export const TASK_STATUS_HISTORY = 20;

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
  createdAt: number;
}

export interface AgentRecord {
  info: AgentInfo;
  /** Resources of tasks that are not terminal. */
  used: Resources;
  /** Resources in outstanding offers. */
  offered: Resources;
  channel: AgentChannel | undefined;
  /** Accepts new tasks and gets offers (false while disconnected or unreachable). */
  active: boolean;
  /** False once it missed too many heartbeats; true again when it re-registers. */
  reachable: boolean;
  /** An operator drained it: no offers, its tasks killed; `drained` once they have all ended. */
  draining: boolean;
  drained: boolean;
  registeredAt: number;
  lastHeartbeatAt: number;
  /** Tasks on this agent, keyed by `taskKey`. */
  tasks: Map<string, TaskRecord>;
  offers: Set<string>;
}

export interface FrameworkRecord {
  info: FrameworkInfo;
  streamId: string | undefined;
  channel: FrameworkChannel | undefined;
  /** Subscribed right now. */
  connected: boolean;
  registeredAt: number;
  disconnectedAt: number | undefined;
  /** Active (non-terminal) tasks by task id. */
  tasks: Map<string, TaskRecord>;
  /** Terminal tasks, newest last, bounded. */
  completed: TaskRecord[];
  offers: Set<string>;
  suppressedRoles: Set<string>;
  used: Resources;
  /** Master-made updates not yet acknowledged: sent again at every re-subscription. */
  masterUpdates: PendingMasterUpdates;
}

export interface OfferRecord {
  offer: Offer;
  createdAt: number;
}

/** Task ids are unique within a framework; the master keys tasks by both. */
export function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}/${taskId}`;
}
