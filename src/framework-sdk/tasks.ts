/** Task helpers: build a TaskSpec from a few obvious options. */
import type { Offer } from '../common/cluster.js';
import { newTaskId } from '../common/ids.js';
import { nameProblem } from '../common/names.js';
import { parseResources, type Resources } from '../common/resources.js';
import { DEFAULT_KILL_GRACE_MS, HEALTH_CHECK_DEFAULTS } from '../common/task-limits.js';
import type { CommandSpec, HealthCheckSpec, TaskSpec } from '../common/tasks.js';

/** A health check: the type plus what it needs; timings default to Mesos' (15 s, 10 s, 20 s, 3). */
export interface HealthCheckOptions {
  type: HealthCheckSpec['type'];
  /** For `command`: run under `/bin/sh -c`. */
  command?: string;
  /** For `http` and `tcp`. */
  port?: number;
  /** For `http`; default `/`. */
  path?: string;
  delayMs?: number;
  intervalMs?: number;
  timeoutMs?: number;
  consecutiveFailures?: number;
  gracePeriodMs?: number;
}

/** What buildTask needs; everything but the placement and resources has a default. */
export interface TaskOptions {
  /** Default: a fresh `task-xxxxxxxxxxxx`. */
  taskId?: string;
  /** Default: the task id. */
  name?: string;
  /** Where the task runs: the offer's agent, or `agentId`. */
  offer?: Offer;
  agentId?: string;
  /** Concrete resources (usually from takeResources) or their text form. */
  resources: Resources | string;
  /** Without `args`, runs under `/bin/sh -c`; with `args`, it is the program and they its arguments. */
  command?: string;
  args?: string[];
  /** Overrides the shell rule above. */
  shell?: boolean;
  /** A Docker image: the task runs in a container (without a command, the image's own). */
  image?: string;
  /** Run as a plain process (the default when there is no image). */
  process?: boolean;
  /**
   * Run nothing, on an agent with the simulated containerizer: RUNNING at once, ending after
   * `durationMs` (default: when killed) with `exitCode` (default 0). For rehearsals and benchmarks.
   */
  simulated?: { durationMs?: number; exitCode?: number };
  env?: Record<string, string>;
  /**
   * Who the task runs as. Default: the agent's unprivileged task user (`--task-user`, nobody) for a
   * process, the image's own user for a container. The master's policy must allow any other.
   */
  user?: string;
  /** Between SIGTERM and SIGKILL, 0 (SIGKILL at once) to 3600000; default 3000. */
  killGraceMs?: number;
  labels?: Record<string, string>;
  healthCheck?: HealthCheckOptions;
}

function command(value: string, args: string[] | undefined, shell: boolean | undefined, env: Record<string, string>): CommandSpec {
  return { shell: shell ?? args === undefined, value, arguments: args ?? [], env };
}

/**
 * A TaskSpec from options. Throws RangeError for contradictions a master would refuse anyway:
 * no agent, an invalid task id, both `image` and `process`, or a process without a command.
 */
export function buildTask(options: TaskOptions): TaskSpec {
  const taskId = options.taskId ?? newTaskId();
  const idProblem = nameProblem('task id', taskId);
  if (idProblem !== undefined) throw new RangeError(idProblem);
  const agentId = options.offer?.agentId ?? options.agentId;
  if (!agentId) throw new RangeError('a task needs an offer or an agentId');
  if ([options.image, options.process, options.simulated].filter(Boolean).length > 1) {
    throw new RangeError('a task is one of a container (image), a process or a simulated task');
  }
  if (!options.image && !options.simulated && !options.command) throw new RangeError('a process task needs a command');
  const env = { ...(options.env ?? {}) };
  const resources = typeof options.resources === 'string' ? parseResources(options.resources) : options.resources;
  const spec: TaskSpec = {
    taskId,
    name: options.name ?? taskId,
    agentId,
    resources,
    command: { ...command(options.command ?? '', options.args, options.shell, env), ...(options.user !== undefined ? { user: options.user } : {}) },
    container: options.image ? { kind: 'docker', image: options.image } : { kind: options.simulated ? 'simulated' : 'process' },
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    labels: { ...(options.labels ?? {}) },
  };
  if (options.simulated?.durationMs !== undefined) spec.labels['orbit.simulated/duration-ms'] = String(options.simulated.durationMs);
  if (options.simulated?.exitCode !== undefined) spec.labels['orbit.simulated/exit-code'] = String(options.simulated.exitCode);
  if (options.image && !options.command) spec.command.shell = false;
  if (options.healthCheck) spec.healthCheck = healthCheck(options.healthCheck);
  return spec;
}

function healthCheck(h: HealthCheckOptions): HealthCheckSpec {
  const d = HEALTH_CHECK_DEFAULTS;
  const spec: HealthCheckSpec = {
    type: h.type,
    delayMs: h.delayMs ?? d.delayMs,
    intervalMs: h.intervalMs ?? d.intervalMs,
    timeoutMs: h.timeoutMs ?? d.timeoutMs,
    consecutiveFailures: h.consecutiveFailures ?? d.consecutiveFailures,
    gracePeriodMs: h.gracePeriodMs ?? d.gracePeriodMs,
  };
  if (h.command !== undefined) spec.command = { shell: true, value: h.command, arguments: [], env: {} };
  if (h.port !== undefined) spec.port = h.port;
  if (h.type === 'http') spec.path = h.path ?? '/';
  return spec;
}
