/**
 * Domain types for tasks and their statuses, shared by master, agent and SDK.
 * (Generated protobuf types stop at the codec; everything else speaks these.)
 */
import type { Resources } from './resources.js';

/**
 * Where a task is in its life. Non-terminal states first.
 * - STAGING: the master accepted the launch and sent it to the agent.
 * - STARTING: the agent is pulling the image or creating the container.
 * - RUNNING: the container or process is up.
 * - KILLING: a kill was sent; the task has not exited yet.
 * - UNREACHABLE: the agent is out of contact; the task may come back RUNNING.
 * - FINISHED: exited 0.            - FAILED: non-zero exit or start error.
 * - KILLED: ended by a kill.       - ERROR: invalid task, never started.
 * - DROPPED: launch never reached the agent.   - GONE: the agent is gone for good.
 * - LOST: reconciliation's answer for a task nobody knows.
 */
export type TaskState =
  | 'STAGING'
  | 'STARTING'
  | 'RUNNING'
  | 'KILLING'
  | 'UNREACHABLE'
  | 'FINISHED'
  | 'FAILED'
  | 'KILLED'
  | 'ERROR'
  | 'DROPPED'
  | 'GONE'
  | 'LOST';

export const TASK_STATES: readonly TaskState[] = [
  'STAGING', 'STARTING', 'RUNNING', 'KILLING', 'UNREACHABLE',
  'FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST',
];

const TERMINAL: ReadonlySet<TaskState> = new Set(['FINISHED', 'FAILED', 'KILLED', 'ERROR', 'DROPPED', 'GONE', 'LOST']);

/** True for states a task never leaves. */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL.has(state);
}

export type StatusSource = 'MASTER' | 'AGENT';

export type StatusReason =
  | 'NONE'
  | 'AGENT_UNREACHABLE'
  | 'AGENT_REMOVED'
  | 'AGENT_RESTARTED'
  | 'CONTAINER_LIMITATION_MEMORY'
  | 'CONTAINER_LAUNCH_FAILED'
  | 'HEALTH_CHECK_FAILED'
  | 'RECONCILIATION'
  | 'INVALID_OFFER'
  | 'TASK_INVALID'
  | 'TASK_KILLED_DURING_LAUNCH'
  | 'COMMAND_EXITED'
  | 'KILLED_BY_FRAMEWORK'
  | 'FRAMEWORK_REMOVED'
  | 'AGENT_DRAINING'
  | 'TASK_UNKNOWN'
  | 'IMAGE_PULL_FAILED'
  | 'AGENT_DISCONNECTED';

/** A status message is cut to this many characters where it enters (it is free text, shown as is). */
export const MAX_STATUS_MESSAGE_CHARS = 4_096;

/**
 * How many recent statuses of a task are kept: by the master for `orbit task` and /state, and by
 * the agent, which reports them when it re-registers so a restarted master shows the same history.
 */
export const TASK_STATUS_HISTORY = 20;

export interface TaskStatus {
  taskId: string;
  frameworkId: string;
  agentId: string;
  state: TaskState;
  source: StatusSource;
  reason: StatusReason;
  message: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  /** Set on agent-made updates; the framework acknowledges by it. */
  uuid?: string;
  healthy?: boolean;
  containerId?: string;
  exitCode?: number;
}

export type ContainerKind = 'docker' | 'process' | 'simulated';

export interface CommandSpec {
  /** With shell, `value` runs under `/bin/sh -c`; otherwise `value` is the program. */
  shell: boolean;
  value: string;
  arguments: string[];
  env: Record<string, string>;
  user?: string;
}

export interface HealthCheckSpec {
  type: 'command' | 'http' | 'tcp';
  command?: CommandSpec;
  port?: number;
  path?: string;
  delayMs: number;
  intervalMs: number;
  timeoutMs: number;
  consecutiveFailures: number;
  gracePeriodMs: number;
}

/** What a framework asks to run: everything the agent needs to launch it. */
export interface TaskSpec {
  taskId: string;
  name: string;
  agentId: string;
  resources: Resources;
  command: CommandSpec;
  container: { kind: ContainerKind; image?: string; forcePull?: boolean };
  healthCheck?: HealthCheckSpec;
  /** Milliseconds between SIGTERM and SIGKILL. */
  killGraceMs: number;
  labels: Record<string, string>;
  /** The role whose offer launched it (set by the master). */
  allocationRole?: string;
}

export { DEFAULT_KILL_GRACE_MS } from './task-limits.js';
