/**
 * Tasks on the wire. `taskFromProto` decodes a TaskInfo and checks everything a task id can be
 * kept without: names (names.ts), enums, and every number against task-limits.ts; a failure is
 * InvalidArgumentError naming the field, and refuses the whole call. `launchRefusal` then judges
 * what only this task gets wrong, on the raw message (before ranges are merged): overlapping or
 * repeated ranges, NUL in its command or environment, a command or environment over its cap. The
 * master refuses such a task alone (TASK_ERROR, TASK_INVALID) and launches the others.
 */
import type { CommandInfo as CommandInfoMsg, CommandInfo__Output } from '../gen/orbit/v1/CommandInfo.js';
import type { HealthCheck as HealthCheckMsg, HealthCheck__Output } from '../gen/orbit/v1/HealthCheck.js';
import type { Resource__Output } from '../gen/orbit/v1/Resource.js';
import type { TaskInfo as TaskInfoMsg, TaskInfo__Output } from '../gen/orbit/v1/TaskInfo.js';
import { containerKindFromProto, containerKindToProto, healthTypeFromProto, healthTypeToProto } from './enum-codec.js';
import { InvalidArgumentError } from './errors.js';
import { integerWithin, labelsFromProto, labelsToProto, resourcesFromProto, resourcesToProto, secondsToMs } from './field-codec.js';
import { checkName } from './names.js';
import { findOverlap } from './ranges.js';
import {
  DEFAULT_KILL_GRACE_MS,
  environmentBytes,
  HEALTH_CHECK_BOUNDS,
  HEALTH_CHECK_DEFAULTS,
  KILL_GRACE_MS,
  MAX_COMMAND_ARGUMENTS,
  MAX_COMMAND_BYTES,
  MAX_ENVIRONMENT_BYTES,
  MAX_ENVIRONMENT_VARIABLES,
} from './task-limits.js';
import type { CommandSpec, HealthCheckSpec, TaskSpec } from './tasks.js';

const PORT = { min: 1, max: 65_535 };

// ---- commands -------------------------------------------------------------------------------

function commandToProto(c: CommandSpec): CommandInfoMsg {
  return {
    shell: c.shell,
    value: c.value,
    arguments: c.arguments,
    environment: Object.entries(c.env).map(([name, value]) => ({ name, value })),
    user: c.user ?? '',
  };
}

/** Decodes a command; its sizes and NULs are launchRefusal's to judge, its names are checked here. */
function commandFromProto(m: CommandInfo__Output | null, field: string): CommandSpec {
  const seen = new Set<string>();
  const env = Object.fromEntries((m?.environment ?? []).map((e, i) => {
    const name = checkName('environment variable name', e.name, `${field}.environment[${i}].name`);
    if (seen.has(name)) throw new InvalidArgumentError(`${field}.environment[${i}].name`, `'${name}' is given twice`);
    seen.add(name);
    return [name, e.value];
  }));
  const spec: CommandSpec = { shell: m?.shell ?? false, value: m?.value ?? '', arguments: [...(m?.arguments ?? [])], env };
  if (m?.user) spec.user = checkName('user', m.user, `${field}.user`);
  return spec;
}

// ---- health checks --------------------------------------------------------------------------

function healthToProto(h: HealthCheckSpec): HealthCheckMsg {
  return {
    type: healthTypeToProto(h.type),
    ...(h.command ? { command: commandToProto(h.command) } : {}),
    port: h.port ?? 0,
    path: h.path ?? '',
    delaySeconds: h.delayMs / 1000,
    intervalSeconds: h.intervalMs / 1000,
    timeoutSeconds: h.timeoutMs / 1000,
    consecutiveFailures: h.consecutiveFailures,
    gracePeriodSeconds: h.gracePeriodMs / 1000,
  };
}

/** Absent (optional fields) or 0 (the others): the default; otherwise within bounds. */
function timing(seconds: number | undefined, key: 'delayMs' | 'intervalMs' | 'timeoutMs' | 'gracePeriodMs', zeroIsDefault: boolean, field: string): number {
  if (seconds === undefined || (zeroIsDefault && seconds === 0)) return HEALTH_CHECK_DEFAULTS[key];
  return secondsToMs(seconds, HEALTH_CHECK_BOUNDS[key], field);
}

function healthFromProto(m: HealthCheck__Output, field: string): HealthCheckSpec {
  const type = healthTypeFromProto(m.type, `${field}.type`);
  const failures = m.consecutiveFailures === 0 ? HEALTH_CHECK_DEFAULTS.consecutiveFailures : m.consecutiveFailures;
  const spec: HealthCheckSpec = {
    type,
    delayMs: timing(m.delaySeconds, 'delayMs', false, `${field}.delay_seconds`),
    intervalMs: timing(m.intervalSeconds, 'intervalMs', true, `${field}.interval_seconds`),
    timeoutMs: timing(m.timeoutSeconds, 'timeoutMs', true, `${field}.timeout_seconds`),
    consecutiveFailures: integerWithin(failures, HEALTH_CHECK_BOUNDS.consecutiveFailures, `${field}.consecutive_failures`),
    gracePeriodMs: timing(m.gracePeriodSeconds, 'gracePeriodMs', false, `${field}.grace_period_seconds`),
  };
  if (type === 'command') {
    if (!m.command?.value) throw new InvalidArgumentError(`${field}.command.value`, 'a command health check needs a command');
    spec.command = commandFromProto(m.command, `${field}.command`);
  } else {
    spec.port = integerWithin(m.port, PORT, `${field}.port`);
    if (type === 'http') spec.path = checkName('health check path', m.path, `${field}.path`) || '/';
  }
  return spec;
}

// ---- tasks ----------------------------------------------------------------------------------

export function taskToProto(t: TaskSpec): TaskInfoMsg {
  return {
    taskId: t.taskId,
    name: t.name,
    agentId: t.agentId,
    resources: resourcesToProto(t.resources),
    command: commandToProto(t.command),
    container: { type: containerKindToProto(t.container.kind), image: t.container.image ?? '', forcePull: t.container.forcePull ?? false },
    ...(t.healthCheck ? { healthCheck: healthToProto(t.healthCheck) } : {}),
    killGraceSeconds: t.killGraceMs / 1000,
    labels: labelsToProto(t.labels),
    allocationRole: t.allocationRole ?? '',
  };
}

/** Decodes a task and checks its structure, names and numbers (see the file comment); fit is the master's job. */
export function taskFromProto(m: TaskInfo__Output, field: string): TaskSpec {
  if (!m.taskId) throw new InvalidArgumentError(`${field}.task_id`, 'a task needs a task_id');
  const taskId = checkName('task id', m.taskId, `${field}.task_id`);
  const kind = containerKindFromProto(m.container?.type ?? 'CONTAINER_TYPE_UNKNOWN', `${field}.container.type`);
  const command = commandFromProto(m.command, `${field}.command`);
  const image = m.container?.image ? checkName('image', m.container.image, `${field}.container.image`) : '';
  if (kind === 'docker' && !image) throw new InvalidArgumentError(`${field}.container.image`, 'a docker task needs an image');
  if (kind === 'process' && !command.value) throw new InvalidArgumentError(`${field}.command.value`, 'a process task needs a command');
  const spec: TaskSpec = {
    taskId,
    name: checkName('task name', m.name, `${field}.name`) || taskId,
    agentId: m.agentId ? checkName('agent id', m.agentId, `${field}.agent_id`) : '',
    resources: resourcesFromProto(m.resources, `${field}.resources`),
    command,
    container: { kind, ...(image ? { image } : {}), ...(m.container?.forcePull ? { forcePull: true } : {}) },
    killGraceMs: m.killGraceSeconds === undefined ? DEFAULT_KILL_GRACE_MS : secondsToMs(m.killGraceSeconds, KILL_GRACE_MS, `${field}.kill_grace_seconds`),
    labels: labelsFromProto(m.labels, `${field}.labels`),
  };
  if (m.healthCheck) spec.healthCheck = healthFromProto(m.healthCheck, `${field}.health_check`);
  if (m.allocationRole) spec.allocationRole = checkName('role', m.allocationRole, `${field}.allocation_role`);
  return spec;
}

// ---- what refuses one task --------------------------------------------------------------------

/**
 * Why this task alone is refused, naming the field, or undefined when nothing is wrong. Call it
 * after taskFromProto accepted the message.
 */
export function launchRefusal(m: TaskInfo__Output, field: string): string | undefined {
  return rangeOverlap(m.resources, `${field}.resources`) ?? commandRefusal(m.command, `${field}.command`) ??
    (m.healthCheck?.command ? commandRefusal(m.healthCheck.command, `${field}.health_check.command`) : undefined);
}

/** Two ranges of one resource name that share a value (a port asked for twice), in any entries. */
function rangeOverlap(list: readonly Resource__Output[], field: string): string | undefined {
  const byName = new Map<string, { begin: number; end: number; at: string }[]>();
  list.forEach((r, i) => {
    if (r.type !== 'RANGES') return;
    const ranges = byName.get(r.name) ?? [];
    byName.set(r.name, ranges);
    r.ranges.forEach((x, j) => ranges.push({ begin: Number(x.begin), end: Number(x.end), at: `${field}[${i}].ranges[${j}]` }));
  });
  for (const [name, ranges] of byName) {
    const overlap = findOverlap(ranges);
    if (overlap) {
      const [earlier, r] = overlap;
      return `${r.at}: ${name} ${r.begin}-${r.end} overlaps ${earlier.begin}-${earlier.end} (${earlier.at}); a task names each value once`;
    }
  }
  return undefined;
}

function commandRefusal(m: CommandInfo__Output | null, field: string): string | undefined {
  if (!m) return undefined;
  if (m.value.includes('\0')) return `${field}.value: contains NUL, which no command can carry`;
  const badArg = m.arguments.findIndex((a) => a.includes('\0'));
  if (badArg >= 0) return `${field}.arguments[${badArg}]: contains NUL, which no argument can carry`;
  if (m.arguments.length > MAX_COMMAND_ARGUMENTS) return `${field}.arguments: ${m.arguments.length} arguments; at most ${MAX_COMMAND_ARGUMENTS}`;
  const commandBytes = m.arguments.reduce((n, a) => n + Buffer.byteLength(a) + 1, Buffer.byteLength(m.value) + 1);
  if (commandBytes > MAX_COMMAND_BYTES) return `${field}: the command and its arguments take ${commandBytes} bytes; at most ${MAX_COMMAND_BYTES}`;
  const badEnv = m.environment.findIndex((e) => e.value.includes('\0'));
  if (badEnv >= 0) return `${field}.environment[${badEnv}].value: contains NUL, which no environment variable can carry`;
  if (m.environment.length > MAX_ENVIRONMENT_VARIABLES) return `${field}.environment: ${m.environment.length} variables; at most ${MAX_ENVIRONMENT_VARIABLES}`;
  const envBytes = environmentBytes(Object.fromEntries(m.environment.map((e) => [e.name, e.value])));
  if (envBytes > MAX_ENVIRONMENT_BYTES) return `${field}.environment: ${envBytes} bytes; at most ${MAX_ENVIRONMENT_BYTES}`;
  return undefined;
}
