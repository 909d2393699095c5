/**
 * The shapes of the agent's checkpoint files, and the checks that tell a readable file from a
 * corrupt one. Every file is JSON with a `version`; a file that does not parse, has another
 * version, or lacks a field the agent relies on is corrupt (the checks are deliberately shallow:
 * they catch torn, truncated and foreign files, not every possible nonsense). Ids and numbers are
 * held to the ranges the master accepted them in (names.ts, task-limits.ts), no tighter: what the
 * master accepts, a restarted agent can read back.
 */
import { FAILOVER_TIMEOUT_MS, type FrameworkInfo } from '../common/cluster.js';
import { isValidName } from '../common/names.js';
import { describeBounds, HEALTH_CHECK_BOUNDS, KILL_GRACE_MS, within, type Bounds } from '../common/task-limits.js';
import { TASK_STATES, type StatusReason, type TaskSpec, type TaskState, type TaskStatus } from '../common/tasks.js';
import type { ContainerHandle } from './containerizer/containerizer.js';

/** The layout version this agent writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** meta/agent.json: the id the master gave at the first registration. */
export interface AgentIdFile {
  version: number;
  agentId: string;
}

/** meta/frameworks/FW/framework.json. */
export interface FrameworkFile {
  version: number;
  framework: FrameworkInfo;
}

/** meta/frameworks/FW/tasks/TASK/task.json: written once per launch, before the launch. */
export interface TaskFile {
  version: number;
  frameworkId: string;
  spec: TaskSpec;
  containerId: string;
  sandboxDir: string;
  /** When the agent launched it (ms since the epoch); a health check's grace counts from here. */
  startedAt: number;
  /** When the master accepted the launch (ms, the master's clock), as RunTask said; absent when it did not. */
  acceptedAt?: number;
}

/**
 * meta/frameworks/FW/tasks/TASK/state.json: what changes while the task lives, rewritten (whole,
 * it is small) on every status update and acknowledgement.
 */
export interface TaskStateFile {
  version: number;
  /** The launch `latest`, `handle` and `ending` belong to (a task id may be launched again once it has ended). */
  containerId: string;
  /** The newest status of the launch. */
  latest?: TaskStatus;
  /** Updates not yet acknowledged, oldest first (an earlier launch's may lead). */
  updates: TaskStatus[];
  /**
   * The launch's recent statuses, oldest first, at most TASK_STATUS_HISTORY: reported on
   * re-registration, so a restarted master shows the same history. Absent in older files.
   */
  history?: TaskStatus[];
  /** How to find the container again (process tasks: pid and start time). */
  handle?: ContainerHandle;
  /**
   * The terminal status decided when the container exited, saved before its remains are removed
   * and its update is sent: a restart in between ends the task with it.
   */
  ending?: TaskEnding;
}

/** How a task ends: its terminal status, before it is made into an update. */
export interface TaskEnding {
  state: TaskState;
  reason: StatusReason;
  message: string;
  exitCode?: number;
}

/** A file's content is not what it should be; the message says what is wrong. */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SchemaError(`${what} is not an object`);
  return value as Json;
}

function field(o: Json, name: string, type: 'string' | 'number' | 'boolean' | 'object' | 'array', what: string): unknown {
  const value = o[name];
  const ok = type === 'array' ? Array.isArray(value) : type === 'object' ? typeof value === 'object' && value !== null && !Array.isArray(value) : typeof value === type;
  if (!ok) throw new SchemaError(`${what}.${name} is missing or not a${type === 'array' || type === 'object' ? 'n' : ''} ${type}`);
  return value;
}

function versioned(value: unknown): Json {
  const o = object(value, 'the file');
  if (o['version'] !== CHECKPOINT_VERSION) throw new SchemaError(`version is ${JSON.stringify(o['version'])}, expected ${CHECKPOINT_VERSION}`);
  return o;
}

function checkStatus(value: unknown, what: string): TaskStatus {
  const o = object(value, what);
  for (const name of ['taskId', 'frameworkId', 'agentId', 'source', 'reason', 'message']) field(o, name, 'string', what);
  field(o, 'timestamp', 'number', what);
  if (!TASK_STATES.includes(o['state'] as TaskState)) throw new SchemaError(`${what}.state is not a task state`);
  return o as unknown as TaskStatus;
}

/** A number within the bounds the master accepted it in (task-limits.ts), or a SchemaError. */
function bounded(o: Json, name: string, bounds: Bounds, what: string): void {
  const value = field(o, name, 'number', what) as number;
  if (!within(value, bounds)) throw new SchemaError(`${what}.${name} is ${value}, outside ${describeBounds(bounds)}`);
}

function checkSpec(value: unknown, what: string): TaskSpec {
  const o = object(value, what);
  const taskId = field(o, 'taskId', 'string', what) as string;
  if (!isValidName('task id', taskId)) throw new SchemaError(`${what}.taskId is not a valid task id`);
  field(o, 'resources', 'array', what);
  bounded(o, 'killGraceMs', KILL_GRACE_MS, what);
  const command = object(field(o, 'command', 'object', what), `${what}.command`);
  field(command, 'value', 'string', `${what}.command`);
  field(object(field(o, 'container', 'object', what), `${what}.container`), 'kind', 'string', `${what}.container`);
  if (o['healthCheck'] !== undefined) {
    const health = object(o['healthCheck'], `${what}.healthCheck`);
    for (const [name, bounds] of Object.entries(HEALTH_CHECK_BOUNDS)) bounded(health, name, bounds, `${what}.healthCheck`);
  }
  return o as unknown as TaskSpec;
}

/** Checks meta/agent.json. */
export function checkAgentIdFile(value: unknown): AgentIdFile {
  const o = versioned(value);
  if (!field(o, 'agentId', 'string', 'the file')) throw new SchemaError('agentId is empty');
  return o as unknown as AgentIdFile;
}

/** Checks a framework.json. */
export function checkFrameworkFile(value: unknown): FrameworkFile {
  const o = versioned(value);
  const framework = object(field(o, 'framework', 'object', 'the file'), 'framework');
  if (!isValidName('framework id', field(framework, 'id', 'string', 'framework') as string)) throw new SchemaError('framework.id is not a valid framework id');
  field(framework, 'roles', 'array', 'framework');
  bounded(framework, 'failoverTimeoutMs', FAILOVER_TIMEOUT_MS, 'framework');
  return o as unknown as FrameworkFile;
}

/** Checks a task.json. */
export function checkTaskFile(value: unknown): TaskFile {
  const o = versioned(value);
  for (const name of ['frameworkId', 'containerId', 'sandboxDir']) field(o, name, 'string', 'the file');
  field(o, 'startedAt', 'number', 'the file');
  if (o['acceptedAt'] !== undefined) field(o, 'acceptedAt', 'number', 'the file');
  checkSpec(o['spec'], 'spec');
  return o as unknown as TaskFile;
}

/** Checks a state.json. */
export function checkTaskStateFile(value: unknown): TaskStateFile {
  const o = versioned(value);
  field(o, 'containerId', 'string', 'the file');
  if (o['latest'] !== undefined) checkStatus(o['latest'], 'latest');
  (field(o, 'updates', 'array', 'the file') as unknown[]).forEach((u, i) => {
    const status = checkStatus(u, `updates[${i}]`);
    if (!status.uuid) throw new SchemaError(`updates[${i}] has no uuid`);
  });
  if (o['history'] !== undefined) (field(o, 'history', 'array', 'the file') as unknown[]).forEach((h, i) => checkStatus(h, `history[${i}]`));
  if (o['ending'] !== undefined) {
    const ending = object(o['ending'], 'ending');
    if (!TASK_STATES.includes(ending['state'] as TaskState)) throw new SchemaError('ending.state is not a task state');
    field(ending, 'reason', 'string', 'ending');
    field(ending, 'message', 'string', 'ending');
  }
  if (o['handle'] !== undefined) {
    const handle = object(o['handle'], 'handle');
    field(handle, 'pid', 'number', 'handle');
    field(handle, 'startTime', 'number', 'handle');
  }
  return o as unknown as TaskStateFile;
}
