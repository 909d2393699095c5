/**
 * Wire enums to domain words and back, one table each. The loader decodes a known enum value as
 * its name and an unknown one as its bare number; an unknown value is an error naming the field,
 * never a fallback (STYLE.md 20). Each `*_UNKNOWN` (the unset value) is decided per enum below.
 */
import type { ContainerType__Output } from '../gen/orbit/v1/ContainerType.js';
import type { ErrorReason__Output } from '../gen/orbit/v1/ErrorReason.js';
import type { HealthCheckType__Output } from '../gen/orbit/v1/HealthCheckType.js';
import type { IdentityKind__Output } from '../gen/orbit/v1/IdentityKind.js';
import type { ResourceType__Output } from '../gen/orbit/v1/ResourceType.js';
import type { StatusReason__Output } from '../gen/orbit/v1/StatusReason.js';
import type { StatusSource__Output } from '../gen/orbit/v1/StatusSource.js';
import type { TaskState__Output } from '../gen/orbit/v1/TaskState.js';
import { quote } from './echo.js';
import { InvalidArgumentError, parseErrorReason, type ErrorReason } from './errors.js';
import type { ContainerKind, HealthCheckSpec, StatusReason, StatusSource, TaskState } from './tasks.js';

/** What arrives for an enum field: a known name, or the number of one this build does not know. */
type Wire<T extends string> = T | number;

function decode<W extends string, D>(table: Readonly<Record<W, D>>, value: Wire<W>, field: string, what: string): D {
  if (typeof value === 'string' && Object.hasOwn(table, value)) return table[value];
  throw new InvalidArgumentError(field, `unknown ${what} ${typeof value === 'number' ? value : quote(String(value))}`);
}

const STATES: Readonly<Record<TaskState__Output, TaskState | undefined>> = {
  TASK_STATE_UNKNOWN: undefined,
  TASK_STAGING: 'STAGING',
  TASK_STARTING: 'STARTING',
  TASK_RUNNING: 'RUNNING',
  TASK_KILLING: 'KILLING',
  TASK_FINISHED: 'FINISHED',
  TASK_FAILED: 'FAILED',
  TASK_KILLED: 'KILLED',
  TASK_ERROR: 'ERROR',
  TASK_DROPPED: 'DROPPED',
  TASK_GONE: 'GONE',
  TASK_UNREACHABLE: 'UNREACHABLE',
  TASK_LOST: 'LOST',
};

export function stateToProto(state: TaskState): TaskState__Output {
  return `TASK_${state}`;
}

/** A task state; undefined for TASK_STATE_UNKNOWN (unset); throws for a value this build does not know. */
export function stateFromProto(state: Wire<TaskState__Output>, field = 'state'): TaskState | undefined {
  return decode(STATES, state, field, 'task state');
}

const REASONS: Readonly<Record<StatusReason__Output, StatusReason>> = {
  REASON_UNKNOWN: 'NONE',
  REASON_NONE: 'NONE',
  REASON_AGENT_UNREACHABLE: 'AGENT_UNREACHABLE',
  REASON_AGENT_REMOVED: 'AGENT_REMOVED',
  REASON_AGENT_RESTARTED: 'AGENT_RESTARTED',
  REASON_CONTAINER_LIMITATION_MEMORY: 'CONTAINER_LIMITATION_MEMORY',
  REASON_CONTAINER_LAUNCH_FAILED: 'CONTAINER_LAUNCH_FAILED',
  REASON_HEALTH_CHECK_FAILED: 'HEALTH_CHECK_FAILED',
  REASON_RECONCILIATION: 'RECONCILIATION',
  REASON_INVALID_OFFER: 'INVALID_OFFER',
  REASON_TASK_INVALID: 'TASK_INVALID',
  REASON_TASK_KILLED_DURING_LAUNCH: 'TASK_KILLED_DURING_LAUNCH',
  REASON_COMMAND_EXITED: 'COMMAND_EXITED',
  REASON_KILLED_BY_FRAMEWORK: 'KILLED_BY_FRAMEWORK',
  REASON_FRAMEWORK_REMOVED: 'FRAMEWORK_REMOVED',
  REASON_AGENT_DRAINING: 'AGENT_DRAINING',
  REASON_TASK_UNKNOWN: 'TASK_UNKNOWN',
  REASON_IMAGE_PULL_FAILED: 'IMAGE_PULL_FAILED',
  REASON_AGENT_DISCONNECTED: 'AGENT_DISCONNECTED',
};

export function reasonToProto(reason: StatusReason): StatusReason__Output {
  return `REASON_${reason}`;
}

/** A status reason; an unset one (REASON_UNKNOWN) is NONE. */
export function reasonFromProto(reason: Wire<StatusReason__Output>, field = 'reason'): StatusReason {
  return decode(REASONS, reason, field, 'status reason');
}

const SOURCES: Readonly<Record<StatusSource__Output, StatusSource | undefined>> = {
  SOURCE_UNKNOWN: undefined,
  SOURCE_MASTER: 'MASTER',
  SOURCE_AGENT: 'AGENT',
};

export function sourceToProto(source: StatusSource): StatusSource__Output {
  return source === 'MASTER' ? 'SOURCE_MASTER' : 'SOURCE_AGENT';
}

/** A status source; an unset one is AGENT (agents made every status before sources were sent). */
export function sourceFromProto(source: Wire<StatusSource__Output>, field = 'source'): StatusSource {
  return decode(SOURCES, source, field, 'status source') ?? 'AGENT';
}

const CONTAINER_KINDS: Readonly<Record<ContainerType__Output, ContainerKind | undefined>> = {
  CONTAINER_TYPE_UNKNOWN: undefined,
  DOCKER: 'docker',
  PROCESS: 'process',
  SIMULATED: 'simulated',
};

export function containerKindToProto(kind: ContainerKind): ContainerType__Output {
  return kind === 'docker' ? 'DOCKER' : kind === 'process' ? 'PROCESS' : 'SIMULATED';
}

/** A task's container kind; unset is an error too: there is no default kind. */
export function containerKindFromProto(type: Wire<ContainerType__Output>, field: string): ContainerKind {
  const kind = decode(CONTAINER_KINDS, type, field, 'container type');
  if (!kind) throw new InvalidArgumentError(field, 'a task needs a container type: DOCKER, PROCESS or SIMULATED');
  return kind;
}

const HEALTH_TYPES: Readonly<Record<HealthCheckType__Output, HealthCheckSpec['type'] | undefined>> = {
  HEALTH_CHECK_TYPE_UNKNOWN: undefined,
  HEALTH_COMMAND: 'command',
  HEALTH_HTTP: 'http',
  HEALTH_TCP: 'tcp',
};

export function healthTypeToProto(type: HealthCheckSpec['type']): HealthCheckType__Output {
  return type === 'command' ? 'HEALTH_COMMAND' : type === 'http' ? 'HEALTH_HTTP' : 'HEALTH_TCP';
}

/** A health check's type; unset is an error. */
export function healthTypeFromProto(type: Wire<HealthCheckType__Output>, field: string): HealthCheckSpec['type'] {
  const kind = decode(HEALTH_TYPES, type, field, 'health check type');
  if (!kind) throw new InvalidArgumentError(field, 'a health check needs a type (COMMAND, HTTP or TCP)');
  return kind;
}

const RESOURCE_KINDS: Readonly<Record<ResourceType__Output, 'scalar' | 'ranges' | undefined>> = {
  RESOURCE_TYPE_UNKNOWN: undefined,
  SCALAR: 'scalar',
  RANGES: 'ranges',
};

/** A resource's kind; unset is an error. */
export function resourceKindFromProto(type: Wire<ResourceType__Output>, field: string, name: string): 'scalar' | 'ranges' {
  const kind = decode(RESOURCE_KINDS, type, field, 'resource type');
  if (!kind) throw new InvalidArgumentError(field, `resource '${name}' needs a type (SCALAR or RANGES)`);
  return kind;
}

/** Why something was refused. Unset or a reason this build does not know: undefined (the message still says why). */
export function errorReasonFromProto(reason: Wire<ErrorReason__Output>): ErrorReason | undefined {
  return typeof reason === 'string' && reason.startsWith('ERROR_') ? parseErrorReason(reason.slice('ERROR_'.length)) : undefined;
}

export function errorReasonToProto(reason: ErrorReason): ErrorReason__Output {
  return `ERROR_${reason}`;
}

const IDENTITY_KINDS: Readonly<Record<IdentityKind__Output, 'agent' | 'framework' | 'operator' | undefined>> = {
  IDENTITY_KIND_UNKNOWN: undefined,
  IDENTITY_KIND_AGENT: 'agent',
  IDENTITY_KIND_FRAMEWORK: 'framework',
  IDENTITY_KIND_OPERATOR: 'operator',
};

export function identityKindToProto(kind: 'agent' | 'framework' | 'operator'): IdentityKind__Output {
  return kind === 'agent' ? 'IDENTITY_KIND_AGENT' : kind === 'framework' ? 'IDENTITY_KIND_FRAMEWORK' : 'IDENTITY_KIND_OPERATOR';
}

/** The kind of certificate asked for; unset is an error (masters issue their own). */
export function identityKindFromProto(kind: Wire<IdentityKind__Output>, field: string): 'agent' | 'framework' | 'operator' {
  const decoded = decode(IDENTITY_KINDS, kind, field, 'identity kind');
  if (!decoded) throw new InvalidArgumentError(field, 'name the kind of certificate: AGENT, FRAMEWORK or OPERATOR');
  return decoded;
}
