/**
 * The cluster state as operators see it: served as JSON by the master's GET /state, carried by
 * Operator.GetState, printed by `orbit status --json`. One shape for all three. Resources and
 * attributes are in their text form; times are milliseconds since the epoch.
 */
import type { StatusReason, StatusSource, TaskState } from './tasks.js';

export interface StatusView {
  state: TaskState;
  source: StatusSource;
  reason: StatusReason;
  message: string;
  timestamp: number;
  healthy?: boolean;
  exitCode?: number;
}

export interface TaskView {
  id: string;
  name: string;
  frameworkId: string;
  agentId: string;
  state: TaskState;
  resources: string;
  /** When the master accepted its launch (ms since the epoch). */
  createdAt: number;
  healthy?: boolean;
  containerType: string;
  image?: string;
  statuses: StatusView[];
}

export type AgentStatusView = 'active' | 'disconnected' | 'unreachable' | 'draining' | 'drained';
export const AGENT_STATUS_VIEWS: readonly AgentStatusView[] = ['active', 'disconnected', 'unreachable', 'draining', 'drained'];

export interface AgentView {
  id: string;
  hostname: string;
  address: string;
  httpPort: number;
  resources: string;
  used: string;
  offered: string;
  attributes: string;
  active: boolean;
  /**
   * active; disconnected (stream lost, still expected); unreachable (missed its heartbeats);
   * draining (an operator drained it; tasks being killed); drained (no tasks left).
   */
  status: AgentStatusView;
  registeredAt: number;
  lastHeartbeatAt: number;
  /** The principal of its certificate (`agent:NAME`); empty under --insecure. */
  principal: string;
}

export interface FrameworkView {
  id: string;
  name: string;
  roles: string[];
  active: boolean;
  registeredAt: number;
  failoverTimeoutSeconds: number;
  /** Roles it suppressed offers for, until it revives them (sorted). */
  suppressedRoles: string[];
  /** Who created it (`framework:NAME`, from its certificate; under --insecure, what it said). */
  principal: string;
  used: string;
  offered: string;
  tasks: TaskView[];
  completedTasks: TaskView[];
}

export interface RoleView {
  role: string;
  weight: number;
  /** Resource text; absent when the role has no quota. */
  quota?: { guarantee: string; limit: string };
  allocated: string;
  dominantShare: number;
  offersLastCycle: number;
  /** Why the role got no offer in the last cycle; empty when it got some. */
  explanation: string[];
}

/** A master of the cluster as the leader sees it (its own entry included). */
export interface MasterPeerView {
  masterId: string;
  /** gRPC HOST:PORT. */
  address: string;
  httpUrl: string;
  /** leader, standby or candidate, as its /health said; 'unknown' when it did not answer. */
  role: 'leader' | 'standby' | 'candidate' | 'unknown';
  healthy: boolean;
  /** When it last answered (ms since the epoch). */
  checkedAt: number;
  /** Why it is not healthy (its /health did not answer), or what it says about etcd. */
  problem?: string;
}

export interface ClusterStateView {
  masterId: string;
  version: string;
  startedAt: number;
  epoch: number;
  /** Every master of the cluster and its health (one entry, this master, when embedded); in /state, not in Operator.GetState. */
  masters?: MasterPeerView[];
  agents: AgentView[];
  frameworks: FrameworkView[];
  roles: RoleView[];
  /** Removed frameworks (torn down, or failed over too late), newest first, bounded. */
  completedFrameworks: FrameworkView[];
}
