/**
 * The codec: where generated protobuf types stop. Everything else speaks the domain types in
 * tasks.ts, cluster.ts and resources.ts. Decoding checks structure and throws
 * InvalidArgumentError naming the field; it does not judge whether a task fits an offer.
 */
import type { Attribute as AttributeMsg, Attribute__Output } from '../gen/orbit/v1/Attribute.js';
import type { AgentInfo as AgentInfoMsg, AgentInfo__Output } from '../gen/orbit/v1/AgentInfo.js';
import type { CommandInfo as CommandInfoMsg, CommandInfo__Output } from '../gen/orbit/v1/CommandInfo.js';
import type { ContainerType__Output } from '../gen/orbit/v1/ContainerType.js';
import type { FrameworkInfo as FrameworkInfoMsg, FrameworkInfo__Output } from '../gen/orbit/v1/FrameworkInfo.js';
import type { HealthCheck as HealthCheckMsg, HealthCheck__Output } from '../gen/orbit/v1/HealthCheck.js';
import type { HealthCheckType__Output } from '../gen/orbit/v1/HealthCheckType.js';
import type { Label as LabelMsg, Label__Output } from '../gen/orbit/v1/Label.js';
import type { Offer as OfferMsg, Offer__Output } from '../gen/orbit/v1/Offer.js';
import type { Resource as ResourceMsg, Resource__Output } from '../gen/orbit/v1/Resource.js';
import type { StatusReason__Output } from '../gen/orbit/v1/StatusReason.js';
import type { StatusSource__Output } from '../gen/orbit/v1/StatusSource.js';
import type { TaskInfo as TaskInfoMsg, TaskInfo__Output } from '../gen/orbit/v1/TaskInfo.js';
import type { TaskState__Output } from '../gen/orbit/v1/TaskState.js';
import type { TaskStatus as TaskStatusMsg, TaskStatus__Output } from '../gen/orbit/v1/TaskStatus.js';
import type { Attributes } from './attributes.js';
import type { AgentInfo, FrameworkInfo, Offer } from './cluster.js';
import { InvalidArgumentError } from './errors.js';
import { TASK_ID_PATTERN } from './ids.js';
import { normalize, UNRESERVED_ROLE, type Resource, type Resources } from './resources.js';
import {
  DEFAULT_KILL_GRACE_MS,
  type CommandSpec,
  type ContainerKind,
  type HealthCheckSpec,
  type StatusReason,
  type TaskSpec,
  type TaskState,
  type TaskStatus,
} from './tasks.js';

// ---- enums ---------------------------------------------------------------------------------

export function stateToProto(state: TaskState): TaskState__Output {
  return `TASK_${state}`;
}

export function stateFromProto(state: TaskState__Output): TaskState | undefined {
  return state === 'TASK_STATE_UNKNOWN' ? undefined : (state.slice('TASK_'.length) as TaskState);
}

export function reasonToProto(reason: StatusReason): StatusReason__Output {
  return `REASON_${reason}`;
}

export function reasonFromProto(reason: StatusReason__Output): StatusReason {
  return reason === 'REASON_UNKNOWN' ? 'NONE' : (reason.slice('REASON_'.length) as StatusReason);
}

const CONTAINER_KINDS: Record<ContainerType__Output, ContainerKind | undefined> = {
  CONTAINER_TYPE_UNKNOWN: undefined,
  DOCKER: 'docker',
  PROCESS: 'process',
  SIMULATED: 'simulated',
};

const HEALTH_TYPES: Record<HealthCheckType__Output, HealthCheckSpec['type'] | undefined> = {
  HEALTH_CHECK_TYPE_UNKNOWN: undefined,
  HEALTH_COMMAND: 'command',
  HEALTH_HTTP: 'http',
  HEALTH_TCP: 'tcp',
};

// ---- resources, attributes, labels ----------------------------------------------------------

export function resourcesToProto(resources: Resources): ResourceMsg[] {
  return resources.map((r) => ({
    name: r.name,
    type: r.kind === 'scalar' ? 'SCALAR' : 'RANGES',
    scalar: r.scalar ?? 0,
    ranges: (r.ranges ?? []).map((x) => ({ begin: String(x.begin), end: String(x.end) })),
    role: r.role,
    dynamic: r.dynamic,
  }));
}

/** Decodes and normalises; a negative, non-finite or inverted value is named by its field. */
export function resourcesFromProto(list: readonly Resource__Output[], field: string): Resources {
  const out: Resource[] = [];
  list.forEach((m, i) => {
    const at = `${field}[${i}]`;
    if (!/^[a-z][a-z0-9_-]*$/.test(m.name)) throw new InvalidArgumentError(`${at}.name`, `invalid resource name '${m.name}'`);
    const role = m.role === '' ? UNRESERVED_ROLE : m.role;
    if (m.type === 'SCALAR') {
      if (!Number.isFinite(m.scalar) || m.scalar < 0) {
        throw new InvalidArgumentError(`${at}.scalar`, `${m.name} must be a non-negative number, got ${m.scalar}`);
      }
      out.push({ name: m.name, role, dynamic: m.dynamic, kind: 'scalar', scalar: m.scalar });
    } else if (m.type === 'RANGES') {
      const ranges = m.ranges.map((r, j) => {
        const begin = Number(r.begin);
        const end = Number(r.end);
        if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin <= end)) {
          throw new InvalidArgumentError(`${at}.ranges[${j}]`, `invalid range ${r.begin}-${r.end} for ${m.name}`);
        }
        return { begin, end };
      });
      out.push({ name: m.name, role, dynamic: m.dynamic, kind: 'ranges', ranges });
    } else {
      throw new InvalidArgumentError(`${at}.type`, `resource '${m.name}' needs a type (SCALAR or RANGES)`);
    }
  });
  return normalize(out);
}

export function attributesToProto(attributes: Attributes): AttributeMsg[] {
  return attributes.map((a) => ({ name: a.name, value: a.value }));
}

export function attributesFromProto(list: readonly Attribute__Output[]): Attributes {
  return list.map((a) => ({ name: a.name, value: a.value }));
}

export function labelsToProto(labels: Record<string, string>): LabelMsg[] {
  return Object.entries(labels).map(([key, value]) => ({ key, value }));
}

export function labelsFromProto(list: readonly Label__Output[]): Record<string, string> {
  return Object.fromEntries(list.map((l) => [l.key, l.value]));
}

// ---- tasks ----------------------------------------------------------------------------------

function commandToProto(c: CommandSpec): CommandInfoMsg {
  return {
    shell: c.shell,
    value: c.value,
    arguments: c.arguments,
    environment: Object.entries(c.env).map(([name, value]) => ({ name, value })),
    user: c.user ?? '',
  };
}

function commandFromProto(m: CommandInfo__Output | null, field: string): CommandSpec {
  const env: Record<string, string> = {};
  (m?.environment ?? []).forEach((e, i) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.name)) {
      throw new InvalidArgumentError(`${field}.environment[${i}].name`, `invalid environment variable name '${e.name}'`);
    }
    env[e.name] = e.value;
  });
  const spec: CommandSpec = { shell: m?.shell ?? false, value: m?.value ?? '', arguments: [...(m?.arguments ?? [])], env };
  if (m?.user) spec.user = m.user;
  return spec;
}

const msOrDefault = (seconds: number, fallbackMs: number): number => (seconds > 0 ? Math.round(seconds * 1000) : fallbackMs);

function healthToProto(h: HealthCheckSpec): HealthCheckMsg {
  return {
    type: h.type === 'command' ? 'HEALTH_COMMAND' : h.type === 'http' ? 'HEALTH_HTTP' : 'HEALTH_TCP',
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

function healthFromProto(m: HealthCheck__Output, field: string): HealthCheckSpec {
  const type = HEALTH_TYPES[m.type];
  if (!type) throw new InvalidArgumentError(`${field}.type`, 'a health check needs a type (COMMAND, HTTP or TCP)');
  const spec: HealthCheckSpec = {
    type,
    delayMs: msOrDefault(m.delaySeconds, 15_000),
    intervalMs: msOrDefault(m.intervalSeconds, 10_000),
    timeoutMs: msOrDefault(m.timeoutSeconds, 20_000),
    consecutiveFailures: m.consecutiveFailures > 0 ? m.consecutiveFailures : 3,
    gracePeriodMs: msOrDefault(m.gracePeriodSeconds, 0),
  };
  if (type === 'command') {
    if (!m.command?.value) throw new InvalidArgumentError(`${field}.command.value`, 'a command health check needs a command');
    spec.command = commandFromProto(m.command, `${field}.command`);
  } else {
    if (!(m.port > 0 && m.port < 65536)) throw new InvalidArgumentError(`${field}.port`, `a ${type} health check needs a port`);
    spec.port = m.port;
    if (type === 'http') spec.path = m.path || '/';
  }
  return spec;
}

export function taskToProto(t: TaskSpec): TaskInfoMsg {
  return {
    taskId: t.taskId,
    name: t.name,
    agentId: t.agentId,
    resources: resourcesToProto(t.resources),
    command: commandToProto(t.command),
    container: {
      type: t.container.kind === 'docker' ? 'DOCKER' : t.container.kind === 'process' ? 'PROCESS' : 'SIMULATED',
      image: t.container.image ?? '',
      forcePull: t.container.forcePull ?? false,
    },
    ...(t.healthCheck ? { healthCheck: healthToProto(t.healthCheck) } : {}),
    killGraceSeconds: t.killGraceMs / 1000,
    labels: labelsToProto(t.labels),
    allocationRole: t.allocationRole ?? '',
  };
}

/** Decodes a task and checks its structure (ids, command, image); fit is the master's job. */
export function taskFromProto(m: TaskInfo__Output, field: string): TaskSpec {
  if (!m.taskId) throw new InvalidArgumentError(`${field}.task_id`, 'a task needs a task_id');
  if (!TASK_ID_PATTERN.test(m.taskId)) {
    throw new InvalidArgumentError(`${field}.task_id`, `'${m.taskId}' is not a valid task id (letters, digits, '.', '_', '-'; at most 200)`);
  }
  const kind = CONTAINER_KINDS[m.container?.type ?? 'CONTAINER_TYPE_UNKNOWN'] ?? 'process';
  const command = commandFromProto(m.command, `${field}.command`);
  const image = m.container?.image ?? '';
  if (kind === 'docker' && !image) throw new InvalidArgumentError(`${field}.container.image`, 'a docker task needs an image');
  if (kind === 'process' && !command.value) throw new InvalidArgumentError(`${field}.command.value`, 'a process task needs a command');
  if (!(m.killGraceSeconds >= 0)) throw new InvalidArgumentError(`${field}.kill_grace_seconds`, 'must not be negative');
  const spec: TaskSpec = {
    taskId: m.taskId,
    name: m.name || m.taskId,
    agentId: m.agentId,
    resources: resourcesFromProto(m.resources, `${field}.resources`),
    command,
    container: { kind, ...(image ? { image } : {}), ...(m.container?.forcePull ? { forcePull: true } : {}) },
    killGraceMs: msOrDefault(m.killGraceSeconds, DEFAULT_KILL_GRACE_MS),
    labels: labelsFromProto(m.labels),
  };
  if (m.healthCheck) spec.healthCheck = healthFromProto(m.healthCheck, `${field}.health_check`);
  if (m.allocationRole) spec.allocationRole = m.allocationRole;
  return spec;
}

// ---- statuses -------------------------------------------------------------------------------

export function statusToProto(s: TaskStatus): TaskStatusMsg {
  return {
    taskId: s.taskId,
    frameworkId: s.frameworkId,
    agentId: s.agentId,
    state: stateToProto(s.state),
    source: s.source === 'MASTER' ? 'SOURCE_MASTER' : 'SOURCE_AGENT',
    reason: reasonToProto(s.reason),
    message: s.message,
    timestamp: s.timestamp / 1000,
    uuid: s.uuid ?? '',
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
    containerId: s.containerId ?? '',
    ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}),
  };
}

export function statusFromProto(m: TaskStatus__Output, field = 'status'): TaskStatus {
  const state = stateFromProto(m.state);
  if (!state) throw new InvalidArgumentError(`${field}.state`, 'a status needs a state');
  if (!m.taskId) throw new InvalidArgumentError(`${field}.task_id`, 'a status needs a task_id');
  const source: StatusSource__Output = m.source;
  const s: TaskStatus = {
    taskId: m.taskId,
    frameworkId: m.frameworkId,
    agentId: m.agentId,
    state,
    source: source === 'SOURCE_MASTER' ? 'MASTER' : 'AGENT',
    reason: reasonFromProto(m.reason),
    message: m.message,
    timestamp: Math.round(m.timestamp * 1000),
  };
  if (m.uuid) s.uuid = m.uuid;
  if (m.healthy !== undefined) s.healthy = m.healthy;
  if (m.containerId) s.containerId = m.containerId;
  if (m.exitCode !== undefined) s.exitCode = m.exitCode;
  return s;
}

// ---- frameworks, agents, offers -------------------------------------------------------------

export function frameworkInfoToProto(f: FrameworkInfo): FrameworkInfoMsg {
  return {
    id: f.id,
    name: f.name,
    roles: f.roles,
    user: f.user,
    hostname: f.hostname,
    failoverTimeoutSeconds: f.failoverTimeoutMs / 1000,
    principal: f.principal,
    labels: labelsToProto(f.labels),
  };
}

export function frameworkInfoFromProto(m: FrameworkInfo__Output): FrameworkInfo {
  return {
    id: m.id,
    name: m.name,
    roles: [...m.roles],
    user: m.user,
    hostname: m.hostname,
    failoverTimeoutMs: Math.round(m.failoverTimeoutSeconds * 1000),
    principal: m.principal,
    labels: labelsFromProto(m.labels),
  };
}

export function agentInfoToProto(a: AgentInfo): AgentInfoMsg {
  return {
    id: a.id,
    hostname: a.hostname,
    resources: resourcesToProto(a.resources),
    attributes: attributesToProto(a.attributes),
    httpPort: a.httpPort,
    containerizers: a.containerizers,
  };
}

export function agentInfoFromProto(m: AgentInfo__Output, field = 'info'): AgentInfo {
  return {
    id: m.id,
    hostname: m.hostname,
    resources: resourcesFromProto(m.resources, `${field}.resources`),
    attributes: attributesFromProto(m.attributes),
    httpPort: m.httpPort,
    containerizers: [...m.containerizers],
  };
}

export function offerToProto(o: Offer): OfferMsg {
  return {
    id: o.id,
    frameworkId: o.frameworkId,
    agentId: o.agentId,
    hostname: o.hostname,
    role: o.role,
    resources: resourcesToProto(o.resources),
    attributes: attributesToProto(o.attributes),
  };
}

export function offerFromProto(m: Offer__Output): Offer {
  return {
    id: m.id,
    frameworkId: m.frameworkId,
    agentId: m.agentId,
    hostname: m.hostname,
    role: m.role,
    resources: resourcesFromProto(m.resources, 'offer.resources'),
    attributes: attributesFromProto(m.attributes),
  };
}

/** A message field that must be present; names it when it is not. */
export function required<T>(value: T | null | undefined, field: string): T {
  if (value === null || value === undefined) throw new InvalidArgumentError(field, 'is required');
  return value;
}
